"""Signed terminal requests.

A terminal signs ``"<timestamp>.<METHOD>.<path with query>.<raw body>"`` with
HMAC-SHA256 under its signing secret and sends
``X-Loyalty-Timestamp: <unix seconds>`` and ``X-Loyalty-Signature: v1=<hex>``.
The functions here build and check that; ``loyalty.credentials`` reads the
terminal's standing and its valid secrets with the request's key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Sequence

from loyalty import crypto
from loyalty.errors import BadSignature, Forbidden, StaleRequest, Unauthenticated

SCHEME = "v1"
MAX_SKEW_SECONDS = 300
_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]{64})")
# Unix seconds as plain ASCII digits; the length cap keeps int() cheap.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signing_message(timestamp: str, method: str, path_with_query: str, body: bytes) -> bytes:
    """The exact bytes a terminal signs."""
    return f"{timestamp}.{method.upper()}.{path_with_query}.".encode() + body


def sign(secret: str, timestamp: str, method: str, path_with_query: str, body: bytes) -> str:
    """The ``X-Loyalty-Signature`` value for a request."""
    message = signing_message(timestamp, method, path_with_query, body)
    return f"{SCHEME}={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def check_timestamp(timestamp: str, *, now: float) -> None:
    """Raise ``StaleRequest`` unless ``timestamp`` is integer seconds within 300 s of ``now``."""
    if not _TIMESTAMP.fullmatch(timestamp.strip()):
        raise StaleRequest("X-Loyalty-Timestamp must be the current time in whole Unix seconds.")
    if abs(now - int(timestamp.strip())) > MAX_SKEW_SECONDS:
        raise StaleRequest(
            f"X-Loyalty-Timestamp is more than {MAX_SKEW_SECONDS} seconds from the server's clock; "
            "check the till's clock and sign the request again."
        )


def parse_signature(signature: str) -> str:
    """The lower-case hex digest of a ``v1=<hex>`` header; ``BadSignature`` if malformed."""
    match = _SIGNATURE.fullmatch(signature.strip())
    if match is None:
        raise BadSignature("X-Loyalty-Signature must be v1=<64 hex digits of HMAC-SHA256>.")
    return match.group(1).lower()


def verify_signature(
    secrets: Iterable[str],
    *,
    timestamp: str | None,
    signature: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
    now: float,
) -> None:
    """Raise unless the request is signed, fresh, and matches one of ``secrets``."""
    if not timestamp or not signature:
        raise BadSignature("This terminal's requests must be signed (X-Loyalty-Timestamp and X-Loyalty-Signature).")
    given = parse_signature(signature)
    check_timestamp(timestamp, now=now)
    timestamp = timestamp.strip()
    # Compare against every secret, without stopping at the first match, so the
    # time taken says nothing about which secret (if any) matched.
    matches = [
        hmac.compare_digest(sign(secret, timestamp, method, path_with_query, body), f"{SCHEME}={given}")
        for secret in secrets
    ]
    if not any(matches):
        raise BadSignature("The request signature does not match.")


def check_terminal_request(
    *,
    terminal_status: str | None,
    merchant_status: str | None,
    require_signed: bool,
    secrets_encrypted: Sequence[str],
    timestamp: str | None,
    signature: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
    now: float | None = None,
) -> None:
    """Accept a terminal's request or raise ``Unauthenticated`` (``bad_signature``, ``stale_request``).

    The terminal's standing and its encrypted secrets valid now come from
    ``loyalty.credentials``. Unsigned requests pass only when the merchant does
    not require signing; a request that carries either signing header is
    checked in full either way.
    """
    now = time.time() if now is None else now
    signed = bool(timestamp or signature)
    if signed:
        # Malformed or stale requests are refused before any secret is decrypted.
        if not timestamp or not signature:
            raise BadSignature("A signed request carries both X-Loyalty-Timestamp and X-Loyalty-Signature.")
        parse_signature(signature)
        check_timestamp(timestamp, now=now)
    if terminal_status != "active":
        raise Unauthenticated("The terminal has been revoked.")
    if merchant_status != "active":
        raise Forbidden("The merchant is suspended; its keys are refused until it is reactivated.")
    if not signed and not require_signed:
        return
    verify_signature(
        [crypto.decrypt_cached(token) for token in secrets_encrypted],
        timestamp=timestamp,
        signature=signature,
        method=method,
        path_with_query=path_with_query,
        body=body,
        now=now,
    )
