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
    def __init__(self, *, secret: str = SECRET, now: Callable[[], float] | None = None, batches: bool = False):
        self.secret = secret
        self.now = now
        # Without batches it answers POST /purchases/batch as a service older than it does (405).
        self.batches = batches
        self.batch_refusal = 405  # or 404, behind a proxy that knows the routes
        self.batch_refusals = 0
        # Answers to give, in order, before the normal behaviour; in a batch, one per sale.
        self.script: list[tuple[int, dict]] = []
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
            if path.endswith("/purchases/batch") and not self.batches:
                self.batch_refusals += 1
                return self.batch_refusal, {"code": self.batch_refusal, "message": "No batches here."}, {}
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
            if path.endswith("/purchases/batch"):
                return 200, {"results": self._batch(body["purchases"])}, {}
            if self.script:
                status, answer = self.script.pop(0)
                if status >= 400 or answer:
                    return status, answer, {}
            if path.endswith("/purchases") or path.endswith("/returns"):
                return self._record(body)
            return 404, {"code": 404, "reason": "not_found", "message": "There is nothing here."}, {}

    def _record(self, body: dict) -> tuple[int, dict, dict]:
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

    def _batch(self, sales: list[dict]) -> list[dict]:
        """Each sale answered as alone (a scripted error each, or a success for a scripted 2xx); none after a 5xx."""
        results, failed = [], False
        for index, sale in enumerate(sales):
            result = {"index": index, "external_id": sale["external_id"]}
            if failed:
                error = {"code": 503, "reason": "not_attempted", "message": "Not attempted."}
                results.append(result | {"status": 503, "error": error})
                continue
            scripted = self.script.pop(0) if self.script else None
            if scripted is not None and scripted[0] >= 400:
                status, error = scripted
                results.append(result | {"status": status, "error": error})
                failed = status >= 500
                continue
            status, receipt, _headers = self._record(sale)
            results.append(result | {"status": status, "replayed": status == 200, "receipt": receipt})
        return results

    def posted_external_ids(self) -> list[str]:
        """Every sale sent, in the order it was sent, alone or in a batch."""
        posted = []
        for method, path, body in self.requests:
            if method == "POST":
                sales = body["purchases"] if path.endswith("/batch") else [body]
                posted.extend(sale["external_id"] for sale in sales)
        return posted

    def batch_sizes(self) -> list[int]:
        return [len(body["purchases"]) for _method, path, body in self.requests if path.endswith("/purchases/batch")]
