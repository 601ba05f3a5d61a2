"""Manual adjustments: points an admin adds or takes by hand, with a reason, audited, once per key.

The ``(member_id, idempotency_key)`` row is inserted before anything else, as a
purchase's is: a concurrent duplicate waits on the unique index until the first
ends, then finds it and replays its answer, so an adjustment applies once
whatever the retries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.db import add_months, isoformat_z, utcnow
from loyalty.errors import Forbidden, IdempotencyConflict, InvalidState, ValidationFailed
from loyalty.idempotency import Outcome, receipt_text
from loyalty.ledger import services as ledger
from loyalty.ledger.models import Adjustment
from loyalty.members.services import CLOSED, get_member
from loyalty.program.services import get_program
from loyalty.text import has_control_characters

MAX_POINTS = 10**12
MAX_REASON = 1000


def _existing(session: Session, member_id: str, idempotency_key: str) -> Adjustment | None:
    return session.scalar(
        select(Adjustment)
        .where(Adjustment.member_id == member_id, Adjustment.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    )


def _replay(existing: Adjustment, fingerprint: str) -> Outcome:
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict(
            "This idempotency_key was already used for this member with a different body; use a new key."
        )
    return Outcome(receipt_json=existing.receipt, replayed=True)


def _check(points: Any, reason: Any) -> str:
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_POINTS:
        raise ValidationFailed(
            "An adjustment is a whole number of points other than zero: positive adds, negative takes.",
            errors={"points": [f"A non-zero whole number between -{MAX_POINTS} and {MAX_POINTS}."]},
        )
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed("An adjustment needs a reason.", errors={"reason": ["Required."]})
    if len(reason) > MAX_REASON or has_control_characters(reason, multiline=True):
        raise ValidationFailed(
            f"The reason is text of at most {MAX_REASON} characters.", errors={"reason": ["Too long or not text."]}
        )
    return reason


def adjust_points(
    session: Session,
    *,
    member_id: str,
    points: int,
    reason: str,
    idempotency_key: str,
    fingerprint: str,
    actor: Actor,
) -> Outcome:
    """Add (points > 0) or take (points < 0) a member's points by hand, with a reason, once per key.

    Added points are available at once and expire as the program's points do;
    taking more than is available is ``InsufficientPoints`` and changes nothing.
    The reason is the entry's note and is in the audit log.
    """
    if not actor.is_admin:
        raise Forbidden("Only the program operator adjusts points by hand.")
    reason = _check(points, reason)
    member = get_member(session, member_id)
    existing = _existing(session, member.id, idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint)
    if member.status == CLOSED:
        raise InvalidState("The member's account is closed.")

    adjustment = Adjustment(
        member_id=member.id,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        points=points,
        reason=reason,
        actor_kind=actor.kind,
        actor_name=actor.name,
        actor_key_id=actor.key_id,
    )
    try:
        # The idempotency claim comes first: a concurrent duplicate waits here for this one.
        with session.begin_nested():
            session.add(adjustment)
    except IntegrityError:
        existing = _existing(session, member.id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, fingerprint)

    member = ledger.lock_member(session, member.id)
    now = utcnow()
    context = ledger.EntryContext(actor=actor, note=reason)
    if points > 0:
        expiry_months = get_program(session).expiry_months
        entry = ledger.add_points(
            session,
            member,
            kind="adjust",
            points=points,
            available_at=now,
            expires_at=add_months(now, expiry_months) if expiry_months else None,
            context=context,
            now=now,
        )
    else:
        entry = ledger.take_points(session, member, kind="adjust", points=-points, context=context, now=now).entry
    adjustment.entry_id = entry.id
    adjustment.created_at = now
    record_event(
        session,
        actor=actor,
        action="member.adjust",
        object_type="member",
        object_id=member.id,
        data={"adjustment_id": adjustment.id, "entry_id": entry.id, "points": points, "reason": reason},
    )
    receipt = {
        "id": adjustment.id,
        "member_id": member.id,
        "points": points,
        "reason": reason,
        "entry_id": entry.id,
        "balance": ledger.balance(session, member, now).as_dict(),
        "created_at": isoformat_z(now),
    }
    adjustment.receipt = receipt_text(receipt)
    session.flush()
    return Outcome(receipt_json=adjustment.receipt, replayed=False)
