"""catalog: GET /items = the items with their stock from inventory.

Planted bug `same-upstream-fallback`: when inventory's /stock fails, the fallback asks inventory
again (/stock/cached) instead of using a local copy, so one inventory outage defeats both.
"""
import os

import requests
from flask import Flask, jsonify, request

from common import bug, serve, trace_headers

app = Flask('catalog')
INVENTORY = os.environ['INVENTORY_URL']
ITEMS = [('sku-1', 'lab coat'), ('sku-2', 'goggles'), ('sku-3', 'gloves')]
LOCAL_STOCK = {'sku-1': 1, 'sku-2': 1, 'sku-3': 1}


def stock(headers):
    r = requests.get(f'{INVENTORY}/stock', headers=headers, timeout=0.5)
    r.raise_for_status()
    return r.json()['stock']


@app.get('/items')
def items():
    headers = trace_headers(request)
    try:
        levels = stock(headers)
    except Exception:
        if bug('same-upstream-fallback'):
            try:
                r = requests.get(f'{INVENTORY}/stock/cached', headers=headers, timeout=0.5)
                r.raise_for_status()
                levels = r.json()['stock']
            except Exception:
                return jsonify(error='inventory unavailable'), 500
        else:
            levels = LOCAL_STOCK
    return jsonify(items=[{'sku': sku, 'name': name, 'stock': levels.get(sku, 0)} for sku, name in ITEMS])


if __name__ == '__main__':
    serve(app, 'catalog')
