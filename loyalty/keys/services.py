"""API keys: create (secret shown once), list, revoke; ``loyalty.credentials`` finds the key of a request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.keys.models import ApiKey
from loyalty.pagination import Page, paginate

KEY_PREFIX = "lk_"
# Writing last_used_at on every request would turn every read into a write;
# once a minute is precise enough to spot unused keys.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    # Keys are 256-bit random, so a fast hash is as safe as a slow one and lets
    # the lookup be one indexed equality.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    role: Role,
    name: str,
    actor: Actor,
    merchant_id: str | None = None,
    store_id: str | None = None,
    terminal_id: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A key needs a name.", errors={"name": ["Required."]})
    if role in (Role.MERCHANT, Role.TERMINAL) and not merchant_id:
        raise ValidationFailed(f"A {role.value} key belongs to a merchant.")
    if role is Role.TERMINAL and not (store_id and terminal_id):
        raise ValidationFailed("A terminal key belongs to a store and a terminal.")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        role=role.value,
        secret_hash=hash_secret(secret),
        hint=secret[-4:],
        merchant_id=merchant_id,
        store_id=store_id,
        terminal_id=terminal_id,
    )
    session.add(key)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="key.create",
        object_type="api_key",
        object_id=key.id,
        merchant_id=merchant_id,
        data={"role": role.value, "name": name},
    )
    return key, secret


def touch_key(session: Session, key_id: str, last_used_at: datetime | None, *, now: datetime) -> bool:
    """Record that a key was used, at most once a minute; True when the row was written.

    The caller commits a write at once (``api.auth``): a read-only request never
    commits, and an UPDATE left in its transaction would hold the key's row lock,
    queueing every other request of the key behind it, only to be rolled back.
    """
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        # A plain UPDATE, so that concurrent requests do not conflict on the row.
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        return True
    return False


def list_keys(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    role: Role | None = None,
    merchant_id: str | None = None,
    terminal_id: str | None = None,
    include_revoked: bool = True,
) -> Page[ApiKey]:
    """Keys, newest first."""
    query = select(ApiKey)
    if role:
        query = query.where(ApiKey.role == role.value)
    if merchant_id:
        query = query.where(ApiKey.merchant_id == merchant_id)
    if terminal_id:
        query = query.where(ApiKey.terminal_id == terminal_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return paginate(session, query, ApiKey.id, limit=limit, cursor=cursor)


def get_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("No such key.")
    return key


def revoke_key(session: Session, *, key_id: str, actor: Actor) -> ApiKey:
    """Revoke a key at once; revoking twice is an error."""
    key = get_key(session, key_id)
    if key.revoked_at is not None:
        raise InvalidState("The key is already revoked.")
    key.revoked_at = utcnow()
    session.flush()
    record_event(
        session,
        actor=actor,
        action="key.revoke",
        object_type="api_key",
        object_id=key.id,
        merchant_id=key.merchant_id,
    )
    return key


def actor_for_key(key: ApiKey | Row, *, request_id: str | None = None) -> Actor:
    """The actor of a key, from the key or a row of its columns (``loyalty.credentials``)."""
    return Actor(
        kind="key",
        name=key.name,
        role=Role(key.role),
        key_id=key.id,
        merchant_id=key.merchant_id,
        store_id=key.store_id,
        terminal_id=key.terminal_id,
        request_id=request_id,
    )
