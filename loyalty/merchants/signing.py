"""Signed terminal requests.

A terminal signs ``"<timestamp>.<METHOD>.<path with query>.<raw body>"`` with
HMAC-SHA256 under its signing secret and sends
``X-Loyalty-Timestamp: <unix seconds>`` and ``X-Loyalty-Signature: v1=<hex>``.
The pure functions here build and check that; ``check_terminal_request`` adds
the one database read that finds the terminal's valid secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.db import utcnow
from loyalty.errors import BadSignature, Forbidden, StaleRequest, Unauthenticated
from loyalty.merchants.models import Merchant, Terminal, TerminalSecret

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
    session: Session,
    *,
    terminal_id: str | None,
    merchant_id: str | None,
    timestamp: str | None,
    signature: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
    now: float | None = None,
) -> None:
    """Accept a terminal's request or raise ``Unauthenticated`` (``bad_signature``, ``stale_request``).

    Unsigned requests pass only when the merchant does not require signing; a
    request that carries either signing header is checked in full either way.
    """
    now = time.time() if now is None else now
    signed = bool(timestamp or signature)
    if signed:
        # Malformed or stale requests are refused before touching the database.
        if not timestamp or not signature:
            raise BadSignature("A signed request carries both X-Loyalty-Timestamp and X-Loyalty-Signature.")
        parse_signature(signature)
        check_timestamp(timestamp, now=now)
    if not terminal_id:
        raise Unauthenticated("This terminal key is not bound to a terminal.")
    rows = session.execute(
        select(
            Terminal.status,
            Merchant.status,
            Merchant.require_signed_requests,
            TerminalSecret.secret_encrypted,
        )
        .join(Merchant, Merchant.id == Terminal.merchant_id)
        .outerjoin(
            TerminalSecret,
            and_(
                TerminalSecret.terminal_id == Terminal.id,
                or_(TerminalSecret.expires_at.is_(None), TerminalSecret.expires_at > utcnow()),
            ),
        )
        .where(Terminal.id == terminal_id, Terminal.merchant_id == merchant_id)
    ).all()
    if not rows or rows[0][0] != "active":
        raise Unauthenticated("The terminal has been revoked.")
    if rows[0][1] != "active":
        raise Forbidden("The merchant is suspended; its keys are refused until it is reactivated.")
    require_signed = rows[0][2]
    if not signed and not require_signed:
        return
    secrets = [crypto.decrypt(row[3]) for row in rows if row[3] is not None]
    verify_signature(
        secrets,
        timestamp=timestamp,
        signature=signature,
        method=method,
        path_with_query=path_with_query,
        body=body,
        now=now,
    )
