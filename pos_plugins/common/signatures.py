"""Constant-time checks of the HMAC-SHA256 signatures vendors put on their webhooks.

Every secret valid now (more than one during a rotation) is tried, without
stopping at the first match, so the time taken says nothing about which one matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from loyalty.errors import BadSignature


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _check(given_digest: bytes | None, secrets: Iterable[str], message: bytes, header: str) -> None:
    if given_digest is None or len(given_digest) != hashlib.sha256().digest_size:
        raise BadSignature(f"{header} is missing or malformed.")
    matches = [hmac.compare_digest(hmac_sha256(secret, message), given_digest) for secret in secrets]
    if not any(matches):
        raise BadSignature(f"The webhook signature ({header}) does not match.")


def verify_base64(header: str, given: str | None, secrets: Iterable[str], message: bytes) -> None:
    """Raise ``BadSignature`` unless ``given`` is the base64 HMAC-SHA256 of ``message`` under one of ``secrets``."""
    digest = None
    if given:
        try:
            digest = base64.b64decode(given.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            digest = None
    _check(digest, secrets, message, header)


def verify_hex(header: str, given: str | None, secrets: Iterable[str], message: bytes) -> None:
    """Raise ``BadSignature`` unless ``given`` is the hex HMAC-SHA256 of ``message`` under one of ``secrets``."""
    digest = None
    if given:
        try:
            digest = bytes.fromhex(given.strip())
        except ValueError:
            digest = None
    _check(digest, secrets, message, header)


def sign_base64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, message)).decode()


def sign_hex(secret: str, message: bytes) -> str:
    return hmac_sha256(secret, message).hex()
