#!/usr/bin/env python3
"""A monitoring endpoint for the ping tests (tests/cli/monitoring.rs):
an HTTP server on 127.0.0.1 (standard library only) that writes one JSON
line per request it receives into LOG — method, path, query, body — and
answers 200, or, with --hang, accepts every connection and never answers
(a service that hangs). Prints "ready <port>" once listening.

    ping_server.py LOG [--hang] [--status N]
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOG = sys.argv[1]
HANG = "--hang" in sys.argv
STATUS = int(sys.argv[sys.argv.index("--status") + 1]) if "--status" in sys.argv else 200
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        u = urlsplit(self.path)
        with LOCK, open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": self.command, "path": u.path, "query": u.query, "body": body}) + "\n")
        if HANG:
            # Blocks with no clock involved: under faketime (scripts/test's
            # second pass) a timed sleep may not last.
            threading.Event().wait()
        self.send_response(STATUS)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST = do_HEAD = handle_one

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("ready %d" % server.server_address[1], flush=True)
server.serve_forever()
