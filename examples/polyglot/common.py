"""Shared by the polyglot example's services: trace header forwarding, bug switches, serving.

The services are plain Flask apps with no labcoat or OpenTelemetry library. They only forward
the W3C trace context headers they receive (traceparent, tracestate, baggage) to the calls they
make, as any OpenTelemetry-instrumented service does; labcoat proxies in front of them do the
rest (spans, fault plans). Run with Debian's python3 (python3-flask, python3-requests).
"""
import logging
import os
import sys
import threading

from werkzeug.serving import make_server

TRACE_HEADERS = ('traceparent', 'tracestate', 'baggage')


def trace_headers(request):
    """The trace context of the request being served, to send with every call it makes."""
    return {h: request.headers[h] for h in TRACE_HEADERS if h in request.headers}


def bug(name):
    """Whether a planted bug is switched on (POLYGLOT_BUGS: all (default), none, or names)."""
    on = os.environ.get('POLYGLOT_BUGS', 'all')
    return on == 'all' or name in on.split(',')


def serve(app, name):
    """Serves `app` on 127.0.0.1:$PORT, says it is ready, and stops when its launcher goes away."""
    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    server = make_server('127.0.0.1', int(os.environ.get('PORT', '0')), app, threaded=True)
    if os.environ.get('LABCOAT_WATCH_STDIN') == '1':
        def watch():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    print(f'LABCOAT_READY {name} port={server.server_port}', flush=True)
    server.serve_forever()
