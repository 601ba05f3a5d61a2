"""HTTP over the standard library's ``http.client``: one connection per thread, signed requests, JSON.

Every failure to get an answer (refused, reset, timed out, cut before the
answer arrived) is ``ServiceUnavailable``; an answer with an error status is
the typed error its ``reason`` names.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from pos_plugins.client.errors import ServiceUnavailable, error_for
from pos_plugins.client.signing import signed_headers

USER_AGENT = "loyalty-pos-client/0.1"


@dataclass(frozen=True)
class Answer:
    status: int
    body: object
    replayed: bool


class Transport:
    """Sends signed JSON requests to one service."""

    def __init__(self, base_url: str, api_key: str, signing_secret: str | None, *, timeout: float = 10.0, clock=None):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"The service URL must be http:// or https://, not {base_url!r}.")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        # The service's API lives under /api/v1 of the base URL, whatever prefix a proxy adds.
        prefix = parts.path.rstrip("/")
        self.prefix = prefix if prefix.endswith("/api/v1") else prefix + "/api/v1"
        self.api_key = api_key
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.clock = clock or time.time
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            connection = cls(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def request(self, method: str, path: str, body: bytes | None = None) -> Answer:
        """Send ``method path`` (under /api/v1) with ``body``; the decoded answer, or a typed error."""
        full_path = self.prefix + path
        payload = body if body is not None else b""
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.signing_secret:
            # Signed at each attempt with the current time: a queued sale is never sent with an old timestamp.
            headers.update(signed_headers(self.signing_secret, method, full_path, payload, now=self.clock()))
        connection = self._connection()
        try:
            connection.request(method, full_path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            # Refused, reset, timed out, or the answer was lost: whether the service acted is unknown.
            self.close()
            raise ServiceUnavailable(f"The service did not answer {method} {path}: {error!r}") from error
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        content_type = response.getheader("Content-Type", "")
        decoded: object = raw
        if raw and content_type.startswith("application/json"):
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw
        if response.status >= 400:
            offset = None
            if response.status == 401:
                offset = _clock_offset(response.getheader("Date"), self.clock())
            raise error_for(response.status, decoded if isinstance(decoded, dict) else None, clock_offset=offset)
        replayed = response.getheader("Idempotent-Replayed", "").lower() == "true"
        return Answer(status=response.status, body=decoded, replayed=replayed)


def _clock_offset(date_header: str | None, now: float) -> float | None:
    """How far the till's clock is ahead of the service's (negative: behind), from the answer's Date header."""
    if not date_header:
        return None
    try:
        return now - parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None
