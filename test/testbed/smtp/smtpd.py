"""A test SMTP server on aiosmtpd: port 2525, STARTTLS required (certificate and key from
SMTP_CERT and SMTP_KEY, files the test copies in), AUTH PLAIN/LOGIN required for MAIL, with the
one account SMTP_USER / SMTP_PASSWORD. Each accepted message is printed on stdout as one JSON
line {"from", "to", "data", "tls", "user"}; "smtpd: ready" is printed once it listens."""
import asyncio
import json
import os
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = os.environ.get("SMTP_USER", "keygate").encode()
PASSWORD = os.environ.get("SMTP_PASSWORD", "keygate-password").encode()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "user": (session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None),
        }), flush=True)
        return "250 OK: queued"


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.environ["SMTP_CERT"], os.environ["SMTP_KEY"])
    controller = Controller(
        Handler(), hostname="0.0.0.0", port=2525, server_hostname="smtp.test",
        tls_context=ctx, require_starttls=True, auth_required=True, auth_require_tls=True,
        authenticator=authenticate, decode_data=False,
    )
    controller.start()
    print("smtpd: ready", flush=True)
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, loop.stop)  # docker stop ends it at once
    try:
        loop.run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
