"""frontend: GET /home = the catalogue's items (required) + recommendations (optional).

Planted bug `no-timeout`: the call to recommend has no timeout. Its fallback (no
recommendations) covers errors and 5xx, but a recommend that never answers holds /home forever.
"""
import os

import requests
from flask import Flask, jsonify, request

from common import bug, serve, trace_headers

app = Flask('frontend')
CATALOG = os.environ['CATALOG_URL']
RECOMMEND = os.environ['RECOMMEND_URL']


@app.get('/home')
def home():
    headers = trace_headers(request)
    try:
        r = requests.get(f'{CATALOG}/items', headers=headers, timeout=1.0)
        r.raise_for_status()
        items = r.json()['items']
    except Exception:
        # The catalogue is critical for /home: fail cleanly.
        return jsonify(error='catalog unavailable'), 503
    try:
        r = requests.get(f'{RECOMMEND}/recs/42', headers=headers, timeout=None if bug('no-timeout') else 0.5)
        r.raise_for_status()
        recs = r.json()['recs']
    except Exception:
        recs = []  # fallback: no recommendations
    return jsonify(items=items, recs=recs)


@app.get('/health')
def health():
    return jsonify(ok=True)


if __name__ == '__main__':
    serve(app, 'frontend')
