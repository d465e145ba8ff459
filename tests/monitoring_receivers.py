"""Real local alert receivers for the tests: an HTTP webhook server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    webhooks: list[dict] = field(default_factory=list)  # JSON bodies, in arrival order
    mails: list[email.message.Message] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def hooks(self, state: str | None = None, kind: str | None = None) -> list[dict]:
        return [h["tickwh"] for h in self.webhooks
                if (state is None or h["tickwh"]["state"] == state) and (kind is None or h["tickwh"]["kind"] == kind)]

    def subjects(self) -> list[str]:
        return [m["Subject"] for m in self.mails]


@contextmanager
def receivers() -> Iterator[tuple[Received, str, str]]:
    """(what arrived, webhook URL with a token in its path, smtp URL), both servers on loopback."""
    got = Received()
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                got.webhooks.append(json.loads(body))
                got.paths.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    class Smtp:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's API
            with lock:
                got.mails.append(email.message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    http = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    smtp = Controller(Smtp(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        yield got, f"http://127.0.0.1:{http.server_port}/services/T0/B0/s3cretHookToken42", \
            f"smtp://127.0.0.1:{smtp.port}"
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()
