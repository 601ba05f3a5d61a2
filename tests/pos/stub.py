"""A stand-in for the service in unit tests: a real HTTP server on localhost whose answers a test scripts.

It checks each request's signature as the service does and remembers what it
accepted, answering a replayed external id as the service does (200, the same
body), so tests can count what was awarded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loyalty.merchants.signing import verify_signature

SECRET = "till-secret"
API_KEY = "till-key"


class StubService:
    def __init__(self, *, secret: str = SECRET, now: Callable[[], float] | None = None):
        self.secret = secret
        self.now = now
        self.script: list[tuple[int, dict]] = []  # answers to give, in order, before the normal behaviour
        self.requests: list[tuple[str, str, dict]] = []
        self.accepted: dict[str, dict] = {}  # external_id -> receipt
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before each answer, to catch a till mid-flush
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The till died while sending: like a real server, nothing of this request is seen.
                    self.close_connection = True
                    return
                status, body, headers = stub.answer(self.command, self.path, raw, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> StubService:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, raw: bytes, headers) -> tuple[int, dict, dict]:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            body = json.loads(raw) if raw else {}
            self.requests.append((method, path, body))
            try:
                verify_signature(
                    [self.secret],
                    timestamp=headers.get("X-Loyalty-Timestamp"),
                    signature=headers.get("X-Loyalty-Signature"),
                    method=method,
                    path_with_query=path,
                    body=raw,
                    now=self.now() if self.now else time.time(),
                )
            except Exception as error:  # noqa: BLE001 - the stub answers as the service would
                return 401, {"code": 401, "reason": error.reason, "message": str(error)}, {}
            if self.script:
                status, answer = self.script.pop(0)
                if status >= 400 or answer:
                    return status, answer, {}
            if path.endswith("/purchases") or path.endswith("/returns"):
                external_id = body["external_id"]
                if external_id in self.accepted:
                    return 200, self.accepted[external_id], {"Idempotent-Replayed": "true"}
                receipt = {
                    "id": f"pur_{len(self.accepted) + 1}",
                    "external_id": external_id,
                    "member_id": "mbr_1",
                    "points_awarded": body.get("total_minor", 0) // 100,
                    "points_reversed": 1,
                    "points_status": "available",
                    "breakdown": [],
                    "balance": {"available": 1, "pending": 0},
                }
                self.accepted[external_id] = receipt
                return 201, receipt, {}
            return 404, {"code": 404, "reason": "not_found", "message": "There is nothing here."}, {}

    def posted_external_ids(self) -> list[str]:
        return [body["external_id"] for method, _path, body in self.requests if method == "POST"]
