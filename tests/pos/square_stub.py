"""A stand-in for Square's API on localhost: a real HTTP server answering the few reads a connector makes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SquareStub:
    def __init__(self, token: str):
        self.token = token
        self.objects: dict[str, dict] = {}  # path -> answer body
        self.status: dict[str, int] = {}  # path -> forced status
        self.requests: list[tuple[str, str | None, str | None]] = []  # (path, authorization, Square-Version)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                stub.requests.append((self.path, self.headers.get("Authorization"), self.headers.get("Square-Version")))
                if self.headers.get("Authorization") != f"Bearer {stub.token}":
                    status, body = 401, {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]}
                elif self.path in stub.status:
                    status, body = stub.status[self.path], {"errors": [{"code": "SERVICE_UNAVAILABLE"}]}
                elif self.path in stub.objects:
                    status, body = 200, stub.objects[self.path]
                else:
                    status, body = 404, {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
