"""Reading cases: a member's own, a case's notes, and the queue staff and partners work through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.cases.classify import PRIORITIES
from loyalty.cases.models import ServiceCase, ServiceNote
from loyalty.errors import ValidationFailed
from loyalty.keyset import decode_key, encode_key
from loyalty.pagination import Page


def member_cases(session: Session, *, member_id: str, limit: int = 20) -> list[ServiceCase]:
    """A member's own cases, newest first (the portal shows them)."""
    return list(
        session.scalars(
            select(ServiceCase)
            .where(ServiceCase.member_id == member_id)
            .order_by(ServiceCase.opened_at.desc(), ServiceCase.id.desc())
            .limit(limit)
        )
    )


def list_notes(session: Session, case: ServiceCase) -> list[ServiceNote]:
    """A case's notes, oldest first."""
    return list(session.scalars(select(ServiceNote).where(ServiceNote.case_id == case.id).order_by(ServiceNote.id)))


def list_cases(
    session: Session,
    *,
    actor: Actor,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    priority: str | None = None,
    member_id: str | None = None,
    statuses: tuple[str, ...] | None = None,
) -> Page[ServiceCase]:
    """Cases the actor may see, urgent first then oldest first, optionally by status(es), priority or member."""
    query = select(ServiceCase)
    if actor.role is Role.TERMINAL:
        query = query.where(ServiceCase.source == "cashier", ServiceCase.store_id == actor.store_id)
    elif actor.role is Role.MERCHANT:
        query = query.where(ServiceCase.source == "cashier", ServiceCase.merchant_id == actor.merchant_id)
    if status:
        query = query.where(ServiceCase.status == status)
    if statuses:
        query = query.where(ServiceCase.status.in_(statuses))
    if priority:
        query = query.where(ServiceCase.priority == priority)
    if member_id:
        query = query.where(ServiceCase.member_id == member_id)
    if cursor:
        last_priority, last_at, last_id = decode_key(cursor, (str, datetime, str))
        if last_priority not in PRIORITIES:
            raise ValidationFailed("The cursor is not one this service gave out.", errors={"cursor": ["Invalid."]})
        later_same_priority = and_(
            ServiceCase.priority == last_priority,
            or_(
                ServiceCase.opened_at > last_at,
                and_(ServiceCase.opened_at == last_at, ServiceCase.id > last_id),
            ),
        )
        query = query.where(or_(ServiceCase.priority < last_priority, later_same_priority))
    # The queue's order: urgent first ("urgent" sorts after "normal", so descending), then oldest first.
    rows = list(
        session.scalars(
            query.order_by(ServiceCase.priority.desc(), ServiceCase.opened_at, ServiceCase.id).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = encode_key(last.priority, last.opened_at, last.id) if more and last else None
    return Page(items=rows, next_cursor=next_cursor)
