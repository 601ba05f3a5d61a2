"""Passwords, one-time secrets and attempt accounting, shared by every kind of account.

Passwords are hashed with Argon2id (argon2-cffi, its RFC 9106 low-memory
profile); a hash made with older parameters is replaced at the next successful
sign-in. One-time secrets are either a link's token (256 random bits, found by
its SHA-256) or a six-digit code (found by whose it is, and void after
``MAX_CODE_ATTEMPTS`` wrong guesses). Rate limits live in the web layer; here is
what they count by (``account_key``) and what an account remembers of its
sign-ins (``record_attempt``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import new_id, utcnow
from loyalty.errors import InvalidCredentials as InvalidCredentials
from loyalty.errors import TokenInvalid, ValidationFailed
from loyalty.logins.models import LoginToken

MIN_PASSWORD_LENGTH = 10
# Argon2 hashes whatever it is given; a megabyte password would only cost us time.
MAX_PASSWORD_LENGTH = 256
MAX_CODE_ATTEMPTS = 5
CODE_DIGITS = 6
# A handful of the passwords every list of leaked passwords starts with, at the minimum length or longer.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "1111111111",
        "0000000000",
        "qwertyuiop",
        "password123",
        "password1234",
        "iloveyou123",
        "abcdefghij",
        "abc1234567",
        "passw0rd123",
        "qwerty12345",
        "qwerty123456",
        "1q2w3e4r5t",
        "letmein1234",
        "welcome123",
        "administrator",
    }
)

_hasher = PasswordHasher()
# Verified against when there is no account, so that a missing account takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# ---- passwords -------------------------------------------------------------------------------


def check_new_password(password: str, *, personal: tuple[str | None, ...] = ()) -> str:
    """The password if it may be chosen; ``ValidationFailed`` (field ``password``) saying why not."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(message, errors={"password": [message]})

    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise refuse(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise refuse(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    folded = password.casefold()
    if len(set(folded)) < 4 or folded in _COMMON:
        raise refuse("This password is too easy to guess.")
    for value in personal:
        if value and len(value) >= 4 and value.casefold() in folded:
            raise refuse("The password must not contain your email, phone or name.")
    return password


def hash_password(password: str) -> str:
    """An Argon2id hash of the password, with its parameters and salt, to store."""
    return _hasher.hash(password)


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None = None  # set when the stored hash should be replaced by this one


def verify_password(stored_hash: str | None, password: str) -> PasswordCheck:
    """Whether ``password`` matches ``stored_hash``; None (no account) is checked too, and never matches."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return PasswordCheck(ok=False)
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    if stored_hash is None:
        return PasswordCheck(ok=False)
    if _hasher.check_needs_rehash(stored_hash):
        return PasswordCheck(ok=True, new_hash=_hasher.hash(password))
    return PasswordCheck(ok=True)


# ---- one-time secrets -----------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _retire(session: Session, *, purpose: str, subject_id: str, now: datetime) -> None:
    # A new secret replaces the ones sent before: only the latest message works.
    session.execute(
        update(LoginToken)
        .where(LoginToken.subject_id == subject_id, LoginToken.purpose == purpose, LoginToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def issue_link_token(
    session: Session, *, purpose: str, subject_id: str, lifetime: timedelta, data: dict[str, Any] | None = None
) -> tuple[LoginToken, str]:
    """A fresh token for a link (the secret is returned once, only its hash is kept)."""
    now = utcnow()
    _retire(session, purpose=purpose, subject_id=subject_id, now=now)
    secret = secrets.token_urlsafe(32)
    token = LoginToken(
        purpose=purpose,
        subject_id=subject_id,
        secret_hash=_digest(secret),
        data=data or {},
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(token)
    session.flush()
    return token, secret


def find_link_token(session: Session, *, purpose: str, secret: str, lock: bool = False) -> LoginToken:
    """The unspent, unexpired token of that secret; ``TokenInvalid`` otherwise (nothing is spent)."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        raise TokenInvalid()
    query = select(LoginToken).where(LoginToken.secret_hash == _digest(secret), LoginToken.purpose == purpose)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    token = session.scalar(query)
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        raise TokenInvalid()
    return token


def spend_link_token(session: Session, *, purpose: str, secret: str) -> LoginToken:
    """Spend a link's token, once: a second use, or one after it expired, is ``TokenInvalid``."""
    token = find_link_token(session, purpose=purpose, secret=secret, lock=True)
    token.used_at = utcnow()
    session.flush()
    return token


def issue_code(
    session: Session, *, purpose: str, subject_id: str, lifetime: timedelta, data: dict[str, Any] | None = None
) -> tuple[LoginToken, str]:
    """A fresh six-digit code for someone, replacing any sent before (returned once, only its hash is kept)."""
    now = utcnow()
    _retire(session, purpose=purpose, subject_id=subject_id, now=now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    token_id = new_id("ltk")  # salts the hash: one code's hash says nothing of another's
    token = LoginToken(
        id=token_id,
        purpose=purpose,
        subject_id=subject_id,
        secret_hash=_digest(f"{token_id}:{code}"),
        data=data or {},
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(token)
    session.flush()
    return token, code


def last_issued_at(session: Session, *, purpose: str, subject_id: str) -> datetime | None:
    """When the latest secret for that purpose was sent to someone (to space out messages), or None."""
    return session.scalar(
        select(LoginToken.created_at)
        .where(LoginToken.subject_id == subject_id, LoginToken.purpose == purpose)
        .order_by(LoginToken.id.desc())
        .limit(1)
    )


def spend_code(session: Session, *, purpose: str, subject_id: str, code: str) -> LoginToken:
    """Spend the latest code sent to someone, once.

    A wrong code counts against it, and ``MAX_CODE_ATTEMPTS`` wrong ones void it:
    the caller commits even when this raises ``TokenInvalid``, so that guesses
    are counted.
    """
    token = session.scalar(
        select(LoginToken)
        .where(LoginToken.subject_id == subject_id, LoginToken.purpose == purpose, LoginToken.used_at.is_(None))
        .order_by(LoginToken.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if token is None or token.expires_at <= now or token.attempts >= MAX_CODE_ATTEMPTS:
        raise TokenInvalid()
    typed = "".join(ch for ch in str(code) if ch.isdigit())[: CODE_DIGITS + 1]
    if not hmac.compare_digest(token.secret_hash, _digest(f"{token.id}:{typed}")):
        token.attempts += 1
        session.flush()
        raise TokenInvalid()
    token.used_at = now
    session.flush()
    return token


def forget_subject(session: Session, *, subject_id: str) -> None:
    """Delete every secret ever sent to someone (their account is closed)."""
    for token in session.scalars(select(LoginToken).where(LoginToken.subject_id == subject_id)):
        session.delete(token)
    session.flush()


# ---- attempt accounting --------------------------------------------------------------------


def account_key(identifier: str) -> str:
    """What sign-in attempts on one account are counted by: a digest, so no address is kept in Redis."""
    return _digest("account:" + identifier.strip().casefold())[:32]


class Attempts(Protocol):
    last_login_at: datetime | None
    failed_attempts: int
    last_failed_at: datetime | None


def record_attempt(account: Attempts, *, ok: bool, now: datetime | None = None) -> None:
    """Remember a sign-in on the account: a success clears the failures counted since the last one."""
    now = now or utcnow()
    if ok:
        account.last_login_at = now
        account.failed_attempts = 0
    else:
        account.failed_attempts = (account.failed_attempts or 0) + 1
        account.last_failed_at = now
