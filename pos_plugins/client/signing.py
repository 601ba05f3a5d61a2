"""Signed terminal requests (API.md, "Signed terminal requests").

The till signs ``"<timestamp>.<METHOD>.<path with query>.<raw body>"`` with
HMAC-SHA256 under its signing secret. The timestamp is taken at each attempt:
a queued sale sent an hour later is signed with the time it is sent, never the
time it was sold.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Loyalty-Timestamp"
SIGNATURE_HEADER = "X-Loyalty-Signature"


def signing_message(timestamp: str, method: str, path_with_query: str, body: bytes) -> bytes:
    """The exact bytes a terminal signs."""
    return f"{timestamp}.{method.upper()}.{path_with_query}.".encode() + body


def signature(secret: str, timestamp: str, method: str, path_with_query: str, body: bytes) -> str:
    """The ``X-Loyalty-Signature`` value: ``v1=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret.encode(), signing_message(timestamp, method, path_with_query, body), hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def signed_headers(
    secret: str, method: str, path_with_query: str, body: bytes = b"", *, now: float | None = None
) -> dict[str, str]:
    """The two signing headers for a request sent at ``now`` (the current time by default)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, method, path_with_query, body),
    }
