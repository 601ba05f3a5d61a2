"""Who is calling: a key, its merchant's standing and its terminal's signing secrets, in one statement.

Every API request starts here, so the key, the merchant it belongs to and the
terminal it is bound to (with the signing secrets valid now) are read with a
single indexed query instead of one per table. The key is read as a plain row of
the columns a request needs (no ORM object: nothing here changes it but its last
use, written by a plain UPDATE). The program's settings row rides along as an
object: nearly every request reads it later (``get_program``), and finding it in
the session then costs no statement of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, make_transient_to_detached

from loyalty import credentials_cache
from loyalty.credentials_cache import CachedCredentials, CredentialsCache
from loyalty.db import row_object, utcnow
from loyalty.keys.models import ApiKey
from loyalty.keys.services import KEY_PREFIX, hash_secret, touch_key
from loyalty.merchants.models import Merchant, Terminal, TerminalSecret
from loyalty.program.models import Program
from loyalty.program.services import PROGRAM_ID


@dataclass(frozen=True)
class Credentials:
    """An active key and what its requests are judged on."""

    key: Row  # the key's columns in _KEY_COLUMNS, as attributes
    merchant_status: str | None  # None for keys of no merchant
    require_signed_requests: bool
    terminal_status: str | None  # None for keys of no terminal
    signing_secrets: tuple[str, ...]  # encrypted; only those valid now
    touched: bool = False  # the key's last use was written in the session, to commit once the request is accepted


# What a request reads of its key: the actor (``actor_for_key``), revocation and the last use.
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.role,
    ApiKey.merchant_id,
    ApiKey.store_id,
    ApiKey.terminal_id,
    ApiKey.last_used_at,
    ApiKey.revoked_at,
)

# Built once: every request runs it.
_CREDENTIALS = (
    select(
        *_KEY_COLUMNS,
        Merchant.status.label("merchant_status"),
        Merchant.require_signed_requests,
        Terminal.status.label("terminal_status"),
        TerminalSecret.secret_encrypted,
        TerminalSecret.expires_at.label("secret_expires_at"),
        Program,
    )
    .outerjoin(Merchant, Merchant.id == ApiKey.merchant_id)
    .outerjoin(Terminal, and_(Terminal.id == ApiKey.terminal_id, Terminal.merchant_id == ApiKey.merchant_id))
    .outerjoin(
        TerminalSecret,
        and_(
            TerminalSecret.terminal_id == Terminal.id,
            or_(TerminalSecret.expires_at.is_(None), TerminalSecret.expires_at > bindparam("now")),
        ),
    )
    .outerjoin(Program, Program.id == PROGRAM_ID)
    .where(ApiKey.secret_hash == bindparam("secret_hash"))
)


def load_credentials(session: Session, secret: str, *, now: datetime | None = None) -> Credentials | None:
    """The active key with this secret and its merchant and terminal, recording its use; None if there is none.

    Read from this process's cache when it has them (``loyalty.credentials_cache``), else from the database.
    """
    if not secret.startswith(KEY_PREFIX):
        return None
    now = now or utcnow()
    secret_hash = hash_secret(secret)
    cache = credentials_cache.cache_for(session)
    generation = cache.generation() if cache is not None else None
    if generation is not None:
        cached = cache.get(secret_hash)  # type: ignore[union-attr]
        if cached is not None:
            return _from_cache(session, cache, secret_hash, cached, generation, now)  # type: ignore[arg-type]
    rows = session.execute(_CREDENTIALS, {"secret_hash": secret_hash, "now": now}).all()
    if not rows:
        return None
    first = rows[0]
    # The identity map keeps rows only while something refers to them: hold the program's for the session.
    session.info["program"] = first.Program
    if first.revoked_at is not None:
        return None
    entry = CachedCredentials(
        key=first,
        last_used_at=first.last_used_at,
        merchant_status=first.merchant_status,
        require_signed_requests=bool(first.require_signed_requests),
        terminal_status=first.terminal_status,
        secrets=tuple((row.secret_encrypted, row.secret_expires_at) for row in rows if row.secret_encrypted),
        # Copied only to be kept: without a cache (SQLite, a test's transaction) the session's row serves.
        program=_program_values(first.Program) if generation is not None else None,
    )
    touched = touch_key(session, first.id, first.last_used_at, now=now)
    if generation is not None:
        cache.put(secret_hash, replace(entry, last_used_at=now) if touched else entry, generation)  # type: ignore
    return _credentials(entry, now, touched)


def _from_cache(
    session: Session, cache: CredentialsCache, secret_hash: str, entry: CachedCredentials, generation: int, now
) -> Credentials:
    if entry.program is not None:
        session.info["program"] = _attach_program(session, entry.program)
    touched = touch_key(session, entry.key.id, entry.last_used_at, now=now)
    if touched:
        cache.put(secret_hash, replace(entry, last_used_at=now), generation)
    return _credentials(entry, now, touched)


def _credentials(entry: CachedCredentials, now: datetime, touched: bool) -> Credentials:
    return Credentials(
        key=entry.key,
        merchant_status=entry.merchant_status,
        require_signed_requests=entry.require_signed_requests,
        terminal_status=entry.terminal_status,
        # A rotated-out secret stops working at its expiry, cached or not.
        signing_secrets=tuple(secret for secret, expires_at in entry.secrets if expires_at is None or expires_at > now),
        touched=touched,
    )


_PROGRAM_COLUMNS = tuple(column.key for column in Program.__mapper__.column_attrs)
_PROGRAM_IDENTITY = Program.__mapper__.identity_key_from_primary_key((PROGRAM_ID,))
_PROGRAM_MUTABLE = ("lifecycle_settings",)


def _program_values(program: Program | None) -> dict | None:
    if program is None:
        return None
    return {name: copy.deepcopy(getattr(program, name)) for name in _PROGRAM_COLUMNS}


def _attach_program(session: Session, values: dict) -> Program:
    """The program row as the session would have loaded it, from cached values and without a statement."""
    present = session.identity_map.get(_PROGRAM_IDENTITY)
    if present is not None:
        return present
    # As a query fills a row in, then SQLAlchemy's documented way to make it a loaded, unchanged row of the
    # session. The JSON settings are copied: each session gets its own.
    program = row_object(Program, values | {name: copy.deepcopy(values[name]) for name in _PROGRAM_MUTABLE})
    make_transient_to_detached(program)
    session.add(program)
    return program


# A change to any of these is a change to what requests are judged on: empty the cache on commit.
credentials_cache.forget_on_commit(ApiKey, Merchant, Terminal, TerminalSecret, Program)
