"""A real SMTP server on 127.0.0.1 for svgauto's mail tests (tests/cli/smtp.rs).

aiosmtpd (Debian: python3-aiosmtpd) listening on a free port of 127.0.0.1,
in one of three modes:

  none      plain SMTP
  starttls  STARTTLS offered and required before MAIL (`require_starttls`)
  tls       implicit TLS from the first byte (SMTPS)

With `--auth USER:PASSWORD`, AUTH (PLAIN, LOGIN) is required before MAIL
and only that pair is accepted.

Each message received is written to OUT as `msg-NNN.json` (atomically: a
temporary file renamed), a summary parsed with Python's `email` package:
arrival time, envelope, whether the session was encrypted and authenticated,
the decoded headers, the plain-text body and every attachment (file name,
content type, charset, bytes in hex). The raw message goes beside it as
`msg-NNN.eml`, for a person debugging a failure.

Prints `ready PORT` on stdout once listening, then serves until stdin is
closed or the process is killed.
"""

import argparse
import email
import email.policy
import json
import os
import socket
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, out):
        self.out = out
        self.seq = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        arrived = time.time()
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        raw_headers = email.message_from_bytes(raw)
        ssl_object = server.transport.get_extra_info("ssl_object")

        def addresses(header):
            h = msg[header]
            if h is None:
                return []
            return [
                {"name": a.display_name, "addr": a.addr_spec} for a in h.addresses
            ]

        body = msg.get_body(preferencelist=("plain",))
        attachments = []
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True) or b""
            attachments.append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "charset": part.get_param("charset"),
                    "disposition": part.get_content_disposition(),
                    "hex": payload.hex(),
                }
            )
        summary = {
            "arrived": arrived,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": ssl_object.version() if ssl_object is not None else None,
            "authenticated": bool(session.authenticated),
            "login": (
                session.auth_data.login.decode("utf-8", "replace")
                if isinstance(session.auth_data, LoginPassword)
                else None
            ),
            "subject": msg["subject"],
            # The headers as sent (compat32 leaves encoded words alone).
            "raw_subject": raw_headers.get("subject"),
            "raw_from": raw_headers.get("from"),
            "from": addresses("from"),
            "to": addresses("to"),
            "content_type": msg.get_content_type(),
            "body": body.get_content() if body is not None else None,
            "body_content_type": body.get_content_type() if body is not None else None,
            "body_charset": body.get_param("charset") if body is not None else None,
            "attachments": attachments,
        }
        with self.lock:
            self.seq += 1
            name = "msg-%03d" % self.seq
        with open(os.path.join(self.out, name + ".eml"), "wb") as f:
            f.write(raw)
        tmp = os.path.join(self.out, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False, indent=1)
        os.rename(tmp, os.path.join(self.out, name + ".json"))
        return "250 Message accepted for delivery"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticate


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", help="USER:PASSWORD")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    kwargs = {}
    ctx = None
    if a.mode != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    if a.mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    if a.auth is not None:
        user, _, password = a.auth.partition(":")
        kwargs.update(
            authenticator=authenticator_for(user, password),
            auth_required=True,
            # Plain mode with AUTH: let it happen in clear (a test server).
            auth_require_tls=a.mode != "none",
        )

    # The port is chosen here and may be taken in between: try a few.
    last = None
    for _ in range(10):
        port = free_port()
        controller = Controller(
            Store(a.out),
            hostname="127.0.0.1",
            port=port,
            ssl_context=ctx if a.mode == "tls" else None,
            **kwargs,
        )
        try:
            controller.start()
        except Exception as e:  # port taken meanwhile
            last = e
            continue
        break
    else:
        print("cannot start: %r" % (last,), file=sys.stderr, flush=True)
        sys.exit(1)

    print("ready %d" % port, flush=True)
    try:
        sys.stdin.read()  # until the test closes stdin (or kills us)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
