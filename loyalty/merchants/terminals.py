"""Terminals: the tills of a store, each with an API key and signing secrets.

Signing secrets are random, shown once, and kept encrypted (the service must
read them back to check signatures). Rotating keeps the old secrets valid for a
grace period so that a till can be updated without downtime.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.keys.services import create_key, list_keys, revoke_key
from loyalty.merchants.checks import clean_text, get_merchant, get_store, require_active, require_manager
from loyalty.merchants.models import Terminal, TerminalSecret
from loyalty.pagination import Page, paginate
from loyalty.text import usable_id

SIGNING_SECRET_PREFIX = "lss_"  # noqa: S105 (a recognisable prefix, not a secret)
TERMINAL_STATUSES = ("active", "revoked")
MAX_GRACE_HOURS = 24 * 30


def _new_signing_secret(session: Session, terminal_id: str) -> str:
    secret = SIGNING_SECRET_PREFIX + secrets.token_urlsafe(32)
    session.add(TerminalSecret(terminal_id=terminal_id, secret_encrypted=crypto.encrypt(secret)))
    return secret


def add_terminal(session: Session, *, store_id: str, name: str, actor: Actor) -> tuple[Terminal, str, str]:
    """Add a till to a store; returns it with its API key and signing secret (both shown once)."""
    store = get_store(session, store_id, actor=actor)
    require_manager(actor, store.merchant_id)
    require_active(get_merchant(session, store.merchant_id, actor=actor))
    if store.status != "active":
        raise InvalidState("The store is closed.")
    terminal = Terminal(
        store_id=store.id,
        merchant_id=store.merchant_id,
        name=clean_text(name, "name", max_length=200, required=True),
        status="active",
    )
    session.add(terminal)
    session.flush()
    _key, api_key = create_key(
        session,
        role=Role.TERMINAL,
        name=terminal.name,
        merchant_id=store.merchant_id,
        store_id=store.id,
        terminal_id=terminal.id,
        actor=actor,
    )
    signing_secret = _new_signing_secret(session, terminal.id)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="terminal.create",
        object_type="terminal",
        object_id=terminal.id,
        merchant_id=terminal.merchant_id,
        data={"name": terminal.name, "store_id": store.id},
    )
    return terminal, api_key, signing_secret


def get_terminal(session: Session, terminal_id: str, *, actor: Actor) -> Terminal:
    """A terminal the actor may see; another merchant's is not found."""
    terminal = session.get(Terminal, terminal_id) if usable_id(terminal_id) else None
    if terminal is None or not actor.sees_merchant(terminal.merchant_id):
        raise NotFound("No such terminal.")
    if actor.role is Role.TERMINAL and actor.terminal_id != terminal.id:
        raise NotFound("No such terminal.")
    return terminal


def list_terminals(
    session: Session, *, store_id: str, limit: int, cursor: str | None, status: str | None = None, actor: Actor
) -> Page[Terminal]:
    """A store's terminals, newest first, optionally only active or revoked ones."""
    store = get_store(session, store_id, actor=actor)
    query = select(Terminal).where(Terminal.store_id == store.id)
    if status:
        if status not in TERMINAL_STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}.", errors={"status": ["Unknown status."]})
        query = query.where(Terminal.status == status)
    return paginate(session, query, Terminal.id, limit=limit, cursor=cursor)


def _valid_secrets(session: Session, terminal_id: str, now: datetime) -> list[TerminalSecret]:
    return list(
        session.scalars(
            select(TerminalSecret).where(
                TerminalSecret.terminal_id == terminal_id,
                or_(TerminalSecret.expires_at.is_(None), TerminalSecret.expires_at > now),
            )
        )
    )


def rotate_terminal_secret(
    session: Session, *, terminal_id: str, grace_hours: int, actor: Actor
) -> tuple[str, datetime]:
    """Give a terminal a new signing secret; the old ones stay valid for ``grace_hours``.

    Returns the new secret (shown once) and the time until which the old ones
    are still accepted. A grace of 0 ends them at once (for a leaked secret).
    """
    if isinstance(grace_hours, bool) or not isinstance(grace_hours, int) or not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise ValidationFailed(
            f"The grace period is 0 to {MAX_GRACE_HOURS} hours.", errors={"grace_hours": ["Out of range."]}
        )
    terminal = get_terminal(session, terminal_id, actor=actor)
    require_manager(actor, terminal.merchant_id)
    if terminal.status != "active":
        raise InvalidState("The terminal is revoked.")
    now = utcnow()
    valid_until = now + timedelta(hours=grace_hours)
    for old in _valid_secrets(session, terminal.id, now):
        # A secret already on its way out keeps its earlier end.
        if old.expires_at is None or old.expires_at > valid_until:
            old.expires_at = valid_until
    secret = _new_signing_secret(session, terminal.id)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="terminal.rotate_secret",
        object_type="terminal",
        object_id=terminal.id,
        merchant_id=terminal.merchant_id,
        data={"grace_hours": grace_hours, "previous_valid_until": valid_until.isoformat()},
    )
    return secret, valid_until


def revoke_terminal(session: Session, *, terminal_id: str, actor: Actor) -> Terminal:
    """Retire a terminal at once: its key and every signing secret stop working."""
    terminal = get_terminal(session, terminal_id, actor=actor)
    require_manager(actor, terminal.merchant_id)
    if terminal.status != "active":
        raise InvalidState("The terminal is already revoked.")
    now = utcnow()
    terminal.status = "revoked"
    for old in _valid_secrets(session, terminal.id, now):
        old.expires_at = now
    cursor = None
    while True:
        page = list_keys(session, limit=100, cursor=cursor, terminal_id=terminal.id, include_revoked=False)
        for key in page.items:
            revoke_key(session, key_id=key.id, actor=actor)
        if not (cursor := page.next_cursor):
            break
    session.flush()
    record_event(
        session,
        actor=actor,
        action="terminal.revoke",
        object_type="terminal",
        object_id=terminal.id,
        merchant_id=terminal.merchant_id,
    )
    return terminal
