"""Encryption at rest for secrets the service must read back (terminal signing secrets).

Fernet (from ``cryptography``) gives authenticated encryption with a key
derived from the application's ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

_fernet: Fernet | None = None


def configure(secret_key: str) -> None:
    global _fernet
    digest = hashlib.sha256(b"loyalty-at-rest:" + secret_key.encode()).digest()
    _fernet = Fernet(base64.urlsafe_b64encode(digest))
    decrypt_cached.cache_clear()


def encrypt(plaintext: str) -> str:
    if _fernet is None:
        raise RuntimeError("encryption is not configured")
    return _fernet.encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if _fernet is None:
        raise RuntimeError("encryption is not configured")
    try:
        return _fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted with this SECRET_KEY") from None


@lru_cache(maxsize=1024)
def decrypt_cached(token: str) -> str:
    """``decrypt``, remembered per process: a signed request decrypts its terminal's secrets on every call."""
    return decrypt(token)
