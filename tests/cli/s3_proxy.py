#!/usr/bin/python3
"""The fault proxy of the off-site tests (tests/cli/offsite.rs,
tests/cli/harness/s3.rs): an HTTP proxy on 127.0.0.1 in front of the test
S3 server (rclone serve s3).

It forwards every request unchanged -- method, path, query, headers (the
Host header too: S3 signatures cover it), body, streamed as it arrives --
and relays the answer, except when told to fail: then it answers the next
requests with an S3 error of its own (500 InternalError, 503 SlowDown, 403
AccessDenied) after reading their bodies. It counts the requests and the
bytes of request bodies it received, so a test can measure what a client
sent again.

Control, on paths no S3 bucket can have (bucket names never start with `_`):
  POST /__proxy/fail?status=503&count=3   the next 3 requests get 503 (queued
                                          after failures already asked for);
                                          count=-1: every request, until reset
  POST /__proxy/reset                     no failure planned, counters at 0
  GET  /__proxy/stats                     {"requests", "body_bytes",
                                           "failed", "parts_done" (parts of
                                           multipart uploads stored),
                                           "pending", "forever"} as JSON
Only standard library; Debian's /usr/bin/python3.

Usage: s3_proxy.py --upstream PORT [--port PORT]; prints `ready PORT` on
stdout once it listens, logs one line a request on stderr, and ends when its
stdin closes.
"""

import argparse
import http.client
import http.server
import json
import socketserver
import sys
import threading
import urllib.parse

CODES = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
    403: ("AccessDenied", "Access Denied"),
}

# Headers of one hop, not forwarded as such (`Expect: 100-continue` is
# answered by the proxy itself).
HOP = {"connection", "expect", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade"}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.body_bytes = 0
        self.failed = 0
        self.parts_done = 0
        # [status, remaining] in order; remaining -1 = forever
        self.plan = []

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "body_bytes": self.body_bytes,
                "failed": self.failed,
                "parts_done": self.parts_done,
                "pending": sum(r for _, r in self.plan if r > 0),
                "forever": any(r < 0 for _, r in self.plan),
            }

    def next_failure(self):
        with self.lock:
            while self.plan:
                status, remaining = self.plan[0]
                if remaining < 0:
                    return status
                if remaining == 0:
                    self.plan.pop(0)
                    continue
                self.plan[0][1] = remaining - 1
                return status
            return None


STATE = State()
UPSTREAM = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.path.startswith("/__proxy/"):
            return
        sys.stderr.write("proxy: " + (fmt % args) + "\n")
        sys.stderr.flush()

    def _body_chunks(self):
        """The request body as it arrives, in pieces, framed as sent:
        (raw bytes to forward, bytes of payload in them)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline()
                if not line:
                    raise ConnectionError("the client closed the connection in the middle of the body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    raw = line
                    while True:
                        t = self.rfile.readline()
                        raw += t
                        if t in (b"\r\n", b"\n", b""):
                            break
                    yield raw, 0
                    return
                data = self._read_exact(size)
                crlf = self.rfile.readline()
                yield line + data + crlf, len(data)
        else:
            left = int(self.headers.get("Content-Length", "0") or "0")
            while left > 0:
                data = self.rfile.read1(min(left, 65536)) if hasattr(self.rfile, "read1") else self.rfile.read(min(left, 65536))
                if not data:
                    raise ConnectionError("the client closed the connection in the middle of the body")
                left -= len(data)
                yield data, len(data)

    def _read_exact(self, n):
        out = b""
        while len(out) < n:
            d = self.rfile.read(n - len(out))
            if not d:
                break
            out += d
        return out

    def _count(self, n):
        with STATE.lock:
            STATE.body_bytes += n

    def _control(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        for _ in self._body_chunks():
            pass
        if url.path == "/__proxy/fail":
            status = int(q.get("status", ["503"])[0])
            count = int(q.get("count", ["1"])[0])
            with STATE.lock:
                STATE.plan.append([status, count])
            body = b"ok\n"
        elif url.path == "/__proxy/reset":
            with STATE.lock:
                STATE.plan.clear()
                STATE.requests = STATE.body_bytes = STATE.failed = STATE.parts_done = 0
            body = b"ok\n"
        elif url.path == "/__proxy/stats":
            body = json.dumps(STATE.stats()).encode()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status):
        try:
            for _, n in self._body_chunks():
                self._count(n)
        except OSError:
            self.close_connection = True
            return
        code, message = CODES.get(status, ("InternalError", "error"))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path.split('?')[0]}</Resource>"
            "<RequestId>svgauto-test-proxy</RequestId></Error>"
        ).encode()
        with STATE.lock:
            STATE.failed += 1
        self.log_message("%s %s -> %d %s (injected)", self.command, self.path, status, code)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self):
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        try:
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() in HOP:
                    continue
                up.putheader(k, v)
            up.endheaders()
            for raw, n in self._body_chunks():
                self._count(n)
                up.send(raw)
            resp = up.getresponse()
            data = b"" if self.command == "HEAD" else resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.log_message("%s %s -> upstream failed: %r", self.command, self.path, e)
            self.close_connection = True
            body = b"upstream failed\n"
            try:
                self.send_response(502)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass
            return
        finally:
            up.close()
        self.log_message("%s %s -> %d", self.command, self.path, resp.status)
        if self.command == "PUT" and "partNumber=" in self.path and resp.status == 200:
            with STATE.lock:
                STATE.parts_done += 1
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP or lk == "transfer-encoding":
                continue
            if lk == "content-length" and self.command != "HEAD":
                continue
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self):
        if self.path.startswith("/__proxy/"):
            self._control()
            return
        with STATE.lock:
            STATE.requests += 1
        status = STATE.next_failure()
        if status is not None:
            self._fail(status)
        else:
            self._forward()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_OPTIONS = do_PATCH = handle_one


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global UPSTREAM
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    UPSTREAM = a.upstream
    srv = Server(("127.0.0.1", a.port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"ready {srv.server_address[1]}", flush=True)
    # Ends when the test closes stdin (or dies).
    sys.stdin.read()
    srv.shutdown()


if __name__ == "__main__":
    main()
