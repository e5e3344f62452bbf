#!/usr/bin/env python3
"""A real SMTP submission server for wardwatch's email tests (aiosmtpd, from .venv-test/).

    python tests/smtp_server.py --port P --cert C --key K --mode starttls|implicit \
        --user U --password W --maildir D [--fail-first N --fail-code 451]

- starttls: plain connection; every command but EHLO/HELO/NOOP/QUIT/STARTTLS is refused (530)
  until STARTTLS, and AUTH is only offered after it (port 587 style).
- implicit: TLS from the first byte (port 465 style).
- AUTH PLAIN/LOGIN is required before MAIL; only --user/--password are accepted (535 otherwise).
- Each accepted message is written to D as NNNN.eml (raw bytes as received) and NNNN.json
  (envelope, decoded subject, threading headers and each MIME part decoded), before the 250.
- --fail-first N answers the end of the first N DATA transfers with --fail-code (e.g. 421, 451)
  and stores nothing for them; with 421 the connection is closed afterwards, as RFC 5321 says.

Listens on 127.0.0.1 only; stops on SIGTERM/SIGKILL (the test kills it on drop).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--mode", choices=["starttls", "implicit"], required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--fail-first", type=int, default=0, help="answer the first N DATA with --fail-code")
    p.add_argument("--fail-code", type=int, default=451, choices=[421, 450, 451, 452])
    return p.parse_args()


class Authenticator:
    """Accept exactly one login/password pair."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        # handled=False: let aiosmtpd answer a failure with 535 (its default, handled=True, says nothing).
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def summarize(server, session, envelope):
    """What the tests check, decoded: envelope, TLS version, headers and MIME parts."""
    ssl_object = server.transport.get_extra_info("ssl_object")
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):  # e.g. the inline chart (image/png): JSON holds no bytes
            content = f"<{len(content)} bytes>"
        parts.append({"content_type": part.get_content_type(), "content": content})
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": envelope.rcpt_tos,
        "login": (session.login_data or b"").decode(),
        "tls_version": ssl_object.version() if ssl_object else None,
        "content_type": msg.get_content_type(),
        "subject": str(msg.get("Subject", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "in_reply_to": str(msg.get("In-Reply-To", "")),
        "references": str(msg.get("References", "")),
        "parts": parts,
    }


class Handler:
    """Store messages; refuse the first N DATA transfers with a transient code."""

    def __init__(self, maildir, fail_first, fail_code):
        self.maildir = maildir
        self.fail_left = fail_first
        self.fail_code = fail_code
        self.stored = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            if self.fail_code == 421:
                # 421 means the server closes the channel: do so once the reply is out.
                asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return f"{self.fail_code} 4.3.0 wardwatch test server: try again later"
        self.stored += 1
        base = os.path.join(self.maildir, f"{self.stored:04d}")
        write_atomically(base + ".json", json.dumps(summarize(server, session, envelope), indent=2).encode())
        write_atomically(base + ".eml", envelope.content)
        return "250 2.0.0 OK: queued"


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


async def serve(args):
    os.makedirs(args.maildir, exist_ok=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    handler = Handler(args.maildir, args.fail_first, args.fail_code)
    authenticator = Authenticator(args.user, args.password)
    loop = asyncio.get_running_loop()
    implicit = args.mode == "implicit"

    def factory():
        common = dict(hostname="wardwatch-test-smtp", authenticator=authenticator, auth_required=True, loop=loop)
        if implicit:
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; here the whole connection
            # is TLS (asyncio wraps the socket), so AUTH may be offered right away.
            return SMTP(handler, auth_require_tls=False, **common)
        return SMTP(handler, tls_context=ctx, require_starttls=True, auth_require_tls=True, **common)

    server = await loop.create_server(factory, host="127.0.0.1", port=args.port, ssl=ctx if implicit else None)
    print(f"smtp_server: listening on 127.0.0.1:{args.port} ({args.mode})", flush=True)
    async with server:
        await server.serve_forever()


def main():
    args = parse_args()
    # "Requiring AUTH while not requiring TLS": not so in implicit mode, see factory().
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"smtp_server: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
