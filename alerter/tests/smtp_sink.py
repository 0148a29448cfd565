"""A real SMTP server for the alerter's tests (aiosmtpd, from Debian's python3-aiosmtpd).

Each mail received is parsed with Python's own e-mail parser (an independent MIME reader) and
written to DIR as one JSON file: envelope, decoded subject, text and HTML parts, Message-ID,
whether the session used TLS and logged in, and every MIME part (type, Content-ID, file name,
decoded bytes). Prints "ready" once it accepts connections.

    smtp_sink.py PORT DIR [--cert CERT --key KEY [--implicit]] [--user USER --password PASSWORD]

With a certificate the server offers STARTTLS and requires it; with --implicit it speaks TLS
from the first byte (as on port 465) instead.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import threading
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def parts_of(msg):
    """Every MIME part in order (multiparts included): type, Content-ID, disposition, file
    name, and a leaf's decoded bytes as base64 (for the report mail's PNG and CSV)."""
    out = []
    for part in msg.walk():
        leaf = not part.is_multipart()
        payload = part.get_payload(decode=True) if leaf else None
        out.append({
            "content_type": part.get_content_type(),
            "content_id": part.get("content-id"),
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "base64": base64.b64encode(payload).decode() if payload is not None else None,
        })
    return out


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        out = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "message_id": str(msg["message-id"]),
            # STARTTLS sets session.ssl; TLS from the first byte shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(getattr(session, "authenticated", False)),
            "parts": parts_of(msg),
        }
        with self.lock:
            self.count += 1
            n = self.count
        path = os.path.join(self.directory, "%04d.json" % n)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 stored as %d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("directory")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    params = {}
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.implicit:
            params["ssl_context"] = ctx
        else:
            params["tls_context"] = ctx
            params["require_starttls"] = True
    if a.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == a.user.encode()
                and auth_data.password == a.password.encode()
            )
            return AuthResult(success=ok, handled=False)

        params["authenticator"] = authenticator
        params["auth_required"] = True
        # Without TLS the tests still log in (over loopback).
        params["auth_require_tls"] = bool(a.cert)

    controller = Controller(Sink(a.directory), hostname="127.0.0.1", port=a.port, **params)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
