"""A partner's webhook endpoint for tests: a real HTTP server on 127.0.0.1 in a thread of the test.

It answers each request with the next status of ``answers`` (200 when they run
out) and keeps what it received. ``verify`` checks a request's signature as a
partner's receiver would, with nothing of the service's code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    answers: deque = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def answer(self, *statuses: int) -> None:
        self.answers.extend(statuses)


def verify(request: Received, secret: str, *, tolerance: int = 300) -> bool:
    """True when one ``v1`` of ``Loyalty-Signature`` is HMAC-SHA256(secret, "<t>.<body>") and ``t`` is recent."""
    parts = [item.split("=", 1) for item in request.headers["Loyalty-Signature"].split(",")]
    timestamp = next(value for key, value in parts if key == "t")
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")


def serve() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.answers.popleft() if receiver.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/loyalty/hooks"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
