"""Service cases: a member's missing points, reported by the member, a cashier or staff, until resolved.

A case is opened ``open`` and classified (``loyalty.cases.classify``); the first
note by staff moves it ``in_progress``; it ends ``resolved`` (points credited by
an audited adjustment, once: the adjustment's idempotency key is derived from
the case id) or ``rejected`` (with a reason). The member is told of either end
through the notification outbox.

Who sees a case: the operator (admin, marketer) every case; a merchant's key the
cases its staff and tills opened; a terminal's key the cases opened at its store.
Any other case is not found for them.

This module opens cases and writes notes; ``loyalty.cases.resolution`` ends them
and ``loyalty.cases.queries`` reads them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.cases.classify import REPEAT_DAYS, URGENT, Classification, classify, explain
from loyalty.cases.models import ServiceCase, ServiceNote
from loyalty.db import utcnow
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.members.services import CLOSED, get_member
from loyalty.merchants.models import Store
from loyalty.program.services import get_program
from loyalty.purchases.models import Purchase
from loyalty.text import has_control_characters
from loyalty.tiers.services import list_tiers

OPEN = "open"
IN_PROGRESS = "in_progress"
RESOLVED = "resolved"
REJECTED = "rejected"
STATUSES = (OPEN, IN_PROGRESS, RESOLVED, REJECTED)
SOURCES = ("member", "cashier", "staff")

MAX_CASE_POINTS = 10**9
# A member has at most this many reports being looked at (open or in progress) at once.
MAX_OPEN_MEMBER_CASES = 3
MAX_TEXT = 4000
MAX_SUBJECT = 200
MAX_REF = 100


def check_text(value: Any, field: str, *, required: bool, limit: int, multiline: bool = True) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        if required:
            raise ValidationFailed(f"The {field.replace('_', ' ')} is required.", errors={field: ["Required."]})
        return None
    if len(text) > limit or has_control_characters(text, multiline=multiline):
        raise ValidationFailed(
            f"The {field.replace('_', ' ')} is text of at most {limit} characters.",
            errors={field: [f"At most {limit} characters of text."]},
        )
    return text


def check_points(value: Any, field: str, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CASE_POINTS:
        raise ValidationFailed(
            f"Points are a whole number from 1 to {MAX_CASE_POINTS}.",
            errors={field: [f"A whole number from 1 to {MAX_CASE_POINTS}."]},
        )
    return value


def source_of(actor: Actor) -> str:
    """Who reports: the member in the portal, a cashier (a till's or merchant's key or staff), or the operator."""
    if actor.kind == "member":
        return "member"
    if actor.role in (Role.MERCHANT, Role.TERMINAL):
        return "cashier"
    if actor.is_admin:
        return "staff"
    raise Forbidden("Only the member, a partner's till or staff, or the operator opens a case.")


def _visible(case: ServiceCase, actor: Actor) -> bool:
    if actor.role is Role.TERMINAL:
        return case.source == "cashier" and case.store_id is not None and case.store_id == actor.store_id
    if actor.role is Role.MERCHANT:
        return case.source == "cashier" and case.merchant_id is not None and case.merchant_id == actor.merchant_id
    if actor.kind == "member":
        return case.member_id == actor.name
    return True


def get_case(session: Session, case_id: str, *, actor: Actor, lock: bool = False) -> ServiceCase:
    """A case the actor may see; another merchant's (or store's) is not found."""
    query = select(ServiceCase).where(ServiceCase.id == case_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    case = session.scalar(query)
    if case is None or not _visible(case, actor):
        raise NotFound("No such case.")
    return case


def _purchase_for(session: Session, actor: Actor, *, purchase_id: str | None, receipt_ref: str | None):
    """The purchase a case is about, when named and visible; a cashier may name only their own."""
    if purchase_id is not None:
        purchase = session.get(Purchase, purchase_id)
        if purchase is None or not actor.sees_merchant(purchase.merchant_id):
            raise NotFound("No such purchase.", errors={"purchase_id": ["Unknown purchase."]})
        if actor.role is Role.TERMINAL and purchase.store_id != actor.store_id:
            raise NotFound("No such purchase.", errors={"purchase_id": ["Unknown purchase."]})
        return purchase
    if receipt_ref is not None and actor.merchant_id is not None:
        # A till names its own receipt: its merchant's external_id, when the sale reached the service.
        query = select(Purchase).where(Purchase.merchant_id == actor.merchant_id, Purchase.external_id == receipt_ref)
        if actor.role is Role.TERMINAL:
            query = query.where(Purchase.store_id == actor.store_id)
        return session.scalar(query)
    return None


def _store_for(session: Session, actor: Actor, store_id: str | None) -> Store | None:
    if actor.role is Role.TERMINAL:
        return session.get(Store, actor.store_id) if actor.store_id else None
    if store_id is None:
        return None
    store = session.get(Store, store_id)
    if store is None or not actor.sees_merchant(store.merchant_id):
        raise NotFound("No such store.", errors={"store_id": ["Unknown store."]})
    return store


def _in_top_tier(session: Session, tier_code: str | None) -> bool:
    tiers = list_tiers(session)
    if not tiers or tier_code is None:
        return False
    top = max(tiers, key=lambda tier: tier.rank)
    return top.code == tier_code and top.qualifying_points > 0


def classify_case(
    session: Session, *, member, points_claimed: int | None, occurred_at: datetime | None, now: datetime
) -> Classification:
    """The rules of ``loyalty.cases.classify`` applied to a new case of this member."""
    earlier = session.scalar(
        select(func.count())
        .select_from(ServiceCase)
        .where(ServiceCase.member_id == member.id, ServiceCase.opened_at >= now - timedelta(days=REPEAT_DAYS))
    )
    return classify(
        points_claimed=points_claimed,
        in_top_tier=_in_top_tier(session, member.tier_code),
        occurred_at=occurred_at,
        claim_window_days=get_program(session).claim_window_days,
        earlier_cases=earlier or 0,
        now=now,
    )


def open_case(
    session: Session,
    *,
    member_id: str,
    actor: Actor,
    subject: str | None = None,
    description: str | None = None,
    purchase_id: str | None = None,
    receipt_ref: str | None = None,
    store_id: str | None = None,
    occurred_on: datetime | None = None,
    points_claimed: int | None = None,
    now: datetime | None = None,
) -> ServiceCase:
    """Open a missing-points case for a member, classified urgent or normal (audited as ``case.open``).

    A cashier names the purchase (``purchase_id``) or the receipt (``receipt_ref``)
    of their own store; a receipt the service never received is still a case.
    """
    now = now or utcnow()
    source = source_of(actor)
    if actor.kind == "member" and actor.name != member_id:
        raise NotFound("No such member.")
    subject = check_text(subject, "subject", required=False, limit=MAX_SUBJECT, multiline=False)
    description = check_text(description, "description", required=False, limit=MAX_TEXT)
    receipt_ref = check_text(receipt_ref, "receipt_ref", required=False, limit=MAX_REF, multiline=False)
    points_claimed = check_points(points_claimed, "points_claimed", required=False)
    if occurred_on is not None and occurred_on > now:
        raise ValidationFailed("The purchase cannot be in the future.", errors={"occurred_on": ["In the future."]})
    if source == "cashier" and purchase_id is None and receipt_ref is None:
        raise ValidationFailed(
            "Name the purchase or the receipt the points are missing from.",
            errors={"receipt_ref": ["Give purchase_id or receipt_ref."]},
        )
    member = get_member(session, member_id)
    if member.status == CLOSED:
        raise InvalidState("The member's account is closed.")
    if source == "member":
        waiting = session.scalar(
            select(func.count())
            .select_from(ServiceCase)
            .where(ServiceCase.member_id == member.id, ServiceCase.status.in_((OPEN, IN_PROGRESS)))
        )
        if waiting >= MAX_OPEN_MEMBER_CASES:
            raise ValidationFailed(
                f"At most {MAX_OPEN_MEMBER_CASES} reports are looked at at once; wait for an answer first.",
                errors={"open_cases": [f"{waiting} reports are open."]},
            )

    purchase = _purchase_for(session, actor, purchase_id=purchase_id, receipt_ref=receipt_ref)
    if purchase is not None and purchase.member_id not in (None, member.id):
        raise ValidationFailed(
            "That purchase is another member's.", errors={"purchase_id": ["Not this member's purchase."]}
        )
    store = _store_for(session, actor, store_id) if purchase is None else None
    if purchase is not None:
        merchant_id, store_id = purchase.merchant_id, purchase.store_id
        receipt_ref = receipt_ref or purchase.external_id
        occurred_on = purchase.occurred_at
    else:
        merchant_id = store.merchant_id if store is not None else actor.merchant_id
        store_id = store.id if store is not None else None

    classification = classify_case(
        session, member=member, points_claimed=points_claimed, occurred_at=occurred_on, now=now
    )
    case = ServiceCase(
        member_id=member.id,
        kind="missing_points",
        source=source,
        priority=classification.priority,
        status=OPEN,
        subject=subject or (f"Missing points: receipt {receipt_ref}" if receipt_ref else "Missing points"),
        description=description,
        merchant_id=merchant_id,
        store_id=store_id,
        purchase_id=purchase.id if purchase is not None else None,
        receipt_ref=receipt_ref,
        occurred_on=occurred_on,
        points_claimed=points_claimed,
        opened_by_kind=actor.kind,
        opened_by_name=actor.name,
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    if classification.priority == URGENT:
        write_note(session, case, explain(classification), author_kind="system", author_name="classification", now=now)
    record_event(
        session,
        actor=actor,
        action="case.open",
        object_type="case",
        object_id=case.id,
        merchant_id=merchant_id,
        data={
            "member_id": member.id,
            "source": source,
            "priority": classification.priority,
            "reasons": classification.reasons,
            "points_claimed": points_claimed,
            "purchase_id": case.purchase_id,
        },
    )
    return case


def write_note(
    session: Session, case: ServiceCase, body: str, *, author_kind: str, author_name: str, now: datetime
) -> ServiceNote:
    note = ServiceNote(
        member_id=case.member_id,
        case_id=case.id,
        body=body,
        author_kind=author_kind,
        author_name=author_name,
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def require_operator(actor: Actor, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"Only the program operator {what}.")


def add_note(session: Session, *, case_id: str, body: str, actor: Actor, now: datetime | None = None) -> ServiceNote:
    """Add a staff note to a case; the first note on an open case takes it in progress (audited)."""
    require_operator(actor, "writes notes on cases")
    body = check_text(body, "body", required=True, limit=MAX_TEXT)
    now = now or utcnow()
    case = get_case(session, case_id, actor=actor, lock=True)
    note = write_note(session, case, body, author_kind=actor.kind, author_name=actor.name, now=now)
    if case.status == OPEN:
        case.status = IN_PROGRESS
        case.updated_at = now
    record_event(
        session,
        actor=actor,
        action="case.note",
        object_type="case",
        object_id=case.id,
        merchant_id=case.merchant_id,
        data={"note_id": note.id, "status": case.status},
    )
    session.flush()
    return note


def add_member_note(
    session: Session, *, member_id: str, body: str, actor: Actor, now: datetime | None = None
) -> ServiceNote:
    """A staff note on a member outside any case (a call, a visit), shown in their timeline (audited)."""
    require_operator(actor, "writes notes on members")
    body = check_text(body, "body", required=True, limit=MAX_TEXT)
    member = get_member(session, member_id)
    note = ServiceNote(
        member_id=member.id,
        case_id=None,
        body=body,
        author_kind=actor.kind,
        author_name=actor.name,
        created_at=now or utcnow(),
    )
    session.add(note)
    session.flush()
    record_event(
        session, actor=actor, action="member.note", object_type="member", object_id=member.id, data={"note_id": note.id}
    )
    return note
