"""inventory: stock levels (GET /stock, and a cached copy at GET /stock/cached)."""
from flask import Flask, jsonify

from common import serve

app = Flask('inventory')
STOCK = {'sku-1': 12, 'sku-2': 0, 'sku-3': 7}


@app.get('/stock')
def stock():
    return jsonify(stock=STOCK)


@app.get('/stock/cached')
def cached():
    return jsonify(stock=STOCK, cached=True)


if __name__ == '__main__':
    serve(app, 'inventory')
