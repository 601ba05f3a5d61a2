"""The audit trail of administrative and key actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.models import AuditEvent
from loyalty.pagination import Page, paginate


def record_event(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    merchant_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction."""
    event = AuditEvent(
        actor_kind=actor.kind,
        actor_name=actor.name,
        actor_role=actor.role.value if actor.role else None,
        actor_key_id=actor.key_id,
        request_id=actor.request_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        merchant_id=merchant_id,
        data=data or {},
    )
    session.add(event)
    session.flush()
    return event


def record_events(session: Session, *, actor: Actor, events: Sequence[dict[str, Any]]) -> list[AuditEvent]:
    """Write many events of one actor together (a batch job's): each ``{action, object_type, object_id, data}``."""
    rows = [
        AuditEvent(
            actor_kind=actor.kind,
            actor_name=actor.name,
            actor_role=actor.role.value if actor.role else None,
            actor_key_id=actor.key_id,
            request_id=actor.request_id,
            action=event["action"],
            object_type=event["object_type"],
            object_id=event.get("object_id"),
            merchant_id=event.get("merchant_id"),
            data=event.get("data") or {},
        )
        for event in events
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_events(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    actor_name: str | None = None,
    merchant_id: str | None = None,
) -> Page[AuditEvent]:
    """The audit trail, newest first, optionally for one object, action, actor or merchant.

    ``action`` ending in ``.`` matches every action of that kind (``rule.``).
    """
    query = select(AuditEvent)
    if actor_name:
        query = query.where(AuditEvent.actor_name == actor_name)
    if merchant_id:
        query = query.where(AuditEvent.merchant_id == merchant_id)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if action and action.endswith("."):
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    elif action:
        query = query.where(AuditEvent.action == action)
    return paginate(session, query, AuditEvent.id, limit=limit, cursor=cursor)
