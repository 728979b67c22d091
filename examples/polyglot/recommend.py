"""recommend: GET /recs/<user> = recommended skus for a user."""
from flask import Flask, jsonify

from common import serve

app = Flask('recommend')


@app.get('/recs/<user>')
def recs(user):
    return jsonify(user=user, recs=['sku-3', 'sku-1'])


if __name__ == '__main__':
    serve(app, 'recommend')
