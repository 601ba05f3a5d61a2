"""How a case ends: resolved with points credited once, or rejected with a reason; the member is told either way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.cases.models import ServiceCase
from loyalty.cases.services import REJECTED, RESOLVED, check_points, check_text, get_case, require_operator, write_note
from loyalty.db import utcnow
from loyalty.errors import InvalidState
from loyalty.idempotency import request_hash
from loyalty.ledger.adjustments import adjust_points
from loyalty.members.services import get_member
from loyalty.notifications.services import queue_notification
from loyalty.program.services import get_program


@dataclass(frozen=True)
class Resolution:
    case: ServiceCase
    replayed: bool


def _notify(session: Session, case: ServiceCase, template: str, **data: Any) -> None:
    member = get_member(session, case.member_id)
    program = get_program(session)
    queue_notification(
        session,
        member_id=member.id,
        email=member.email,
        phone=member.phone,
        template=template,
        data={"name": member.name or "there", "program": program.name, "subject": case.subject, **data},
    )


def resolve_case(
    session: Session, *, case_id: str, points: int, reason: str, actor: Actor, now: datetime | None = None
) -> Resolution:
    """Resolve a case by crediting ``points`` with a reason, once (audited as ``case.resolve`` and ``member.adjust``).

    The credit is an adjustment whose idempotency key is the case's, and the case
    row is locked first: however many times or at once it is resolved, the member
    is credited once. The same resolution again is a replay; a different one is
    ``InvalidState``.
    """
    require_operator(actor, "resolves cases")
    points = check_points(points, "points", required=True)
    reason = check_text(reason, "reason", required=True, limit=1000)
    case = get_case(session, case_id, actor=actor, lock=True)
    if case.status == RESOLVED:
        if case.points_granted == points and case.resolution == reason:
            return Resolution(case=case, replayed=True)
        raise InvalidState("This case is already resolved.")
    if case.status == REJECTED:
        raise InvalidState("This case was rejected.")
    now = now or utcnow()
    outcome = adjust_points(
        session,
        member_id=case.member_id,
        points=points,
        reason=f"Case {case.id}: {reason}",
        idempotency_key=f"case:{case.id}",
        fingerprint=request_hash({"case_id": case.id, "points": points, "reason": reason}),
        actor=actor,
    )
    receipt = json.loads(outcome.receipt_json)
    case.status = RESOLVED
    case.points_granted = points
    case.adjustment_id = receipt["id"]
    case.resolution = reason
    case.resolved_by_name = actor.name
    case.resolved_at = now
    case.updated_at = now
    write_note(
        session,
        case,
        f"Resolved with {points} points: {reason}",
        author_kind=actor.kind,
        author_name=actor.name,
        now=now,
    )
    record_event(
        session,
        actor=actor,
        action="case.resolve",
        object_type="case",
        object_id=case.id,
        merchant_id=case.merchant_id,
        data={"member_id": case.member_id, "points": points, "reason": reason, "adjustment_id": receipt["id"]},
    )
    _notify(session, case, "case_resolved", points=points)
    session.flush()
    return Resolution(case=case, replayed=False)


def reject_case(
    session: Session, *, case_id: str, reason: str, actor: Actor, now: datetime | None = None
) -> Resolution:
    """Reject a case with a reason the member is told (audited as ``case.reject``); nothing is credited."""
    require_operator(actor, "rejects cases")
    reason = check_text(reason, "reason", required=True, limit=1000)
    case = get_case(session, case_id, actor=actor, lock=True)
    if case.status == REJECTED:
        if case.resolution == reason:
            return Resolution(case=case, replayed=True)
        raise InvalidState("This case is already rejected.")
    if case.status == RESOLVED:
        raise InvalidState("This case is already resolved.")
    now = now or utcnow()
    case.status = REJECTED
    case.resolution = reason
    case.resolved_by_name = actor.name
    case.resolved_at = now
    case.updated_at = now
    write_note(session, case, f"Rejected: {reason}", author_kind=actor.kind, author_name=actor.name, now=now)
    record_event(
        session,
        actor=actor,
        action="case.reject",
        object_type="case",
        object_id=case.id,
        merchant_id=case.merchant_id,
        data={"member_id": case.member_id, "reason": reason},
    )
    _notify(session, case, "case_rejected", reason=reason)
    session.flush()
    return Resolution(case=case, replayed=False)
