"""Purchases in real time: points earned at the till, and claims of anonymous purchases.

A till's ``external_id`` is its idempotency key, per merchant. Once the
member is found and locked, the purchase row is inserted (``INSERT ... ON
CONFLICT DO NOTHING``) before anything is scored; the unique constraint on
``(merchant_id, external_id)`` makes a concurrent duplicate wait for the first
and then find it, so a purchase is scored and awarded once whatever the
retries. The answer given the first time is stored and replayed. Returns are
``loyalty.purchases.returns``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.db import add_months, isoformat_z, new_id, row_object, upsert_insert, utcnow
from loyalty.earning.quotes import basket_facts, purchase_setting
from loyalty.errors import (
    AlreadyClaimed,
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidState,
    MemberNotFound,
    NotFound,
)
from loyalty.idempotency import Outcome, receipt_text
from loyalty.ledger import services as ledger
from loyalty.ledger.counters import score_and_count
from loyalty.members.models import Member
from loyalty.members.services import ACTIVE, find_member
from loyalty.pagination import Page, paginate
from loyalty.program.services import get_program
from loyalty.purchases.models import Purchase, PurchaseItem, PurchaseReturn
from loyalty.tiers import services as tiers
from loyalty.webhooks import events as webhook_events
from rules import RuleSet

# Receipts print the code for a purchase made without the card; it is typed
# back in the portal, so it avoids look-alike characters.
_CLAIM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CLAIM_LENGTH = 10


def store_receipt(record: Purchase | PurchaseReturn, receipt: dict[str, Any]) -> Outcome:
    record.receipt = receipt_text(receipt)
    return Outcome(receipt_json=record.receipt, replayed=False)


def _new_claim_code() -> str:
    code = "".join(secrets.choice(_CLAIM_ALPHABET) for _ in range(_CLAIM_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def replay(existing: Purchase | PurchaseReturn, fingerprint: str, what: str) -> Outcome:
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict(
            f"This {what} external_id was already used with a different body; use a new external_id."
        )
    return Outcome(receipt_json=existing.receipt, replayed=True)


def _existing_purchase(session: Session, merchant_id: str, external_id: str) -> Purchase | None:
    return session.scalar(
        select(Purchase)
        .where(Purchase.merchant_id == merchant_id, Purchase.external_id == external_id)
        .execution_options(populate_existing=True)
    )


def _credit_member(
    session: Session,
    member: Member,
    purchase: Purchase,
    *,
    kind: str,
    points: int,
    available_at: datetime,
    expires_at: datetime | None,
    actor: Actor,
    now: datetime,
) -> ledger.LedgerEntry | None:
    """Give a locked member a purchase's points (earned at the till or claimed later) and count the visit."""
    # Counted first, so that the member's row is written once, with the points.
    member.purchase_count += 1
    if member.last_purchase_at is None or member.last_purchase_at < purchase.occurred_at:
        member.last_purchase_at = purchase.occurred_at
    entry = None
    if points > 0:
        entry = ledger.add_points(
            session,
            member,
            kind=kind,
            points=points,
            available_at=available_at,
            expires_at=expires_at,
            context=ledger.EntryContext(
                actor=actor,
                merchant_id=purchase.merchant_id,
                store_id=purchase.store_id,
                purchase_id=purchase.id,
                breakdown=purchase.breakdown,
                rule_set_version=purchase.rule_set_version,
            ),
            now=now,
        )
    return entry


def _claim_external_id(session: Session, values: dict[str, Any]) -> bool:
    """Insert the purchase row unless its ``(merchant_id, external_id)`` exists: True if this call inserted it.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: a concurrent duplicate
    blocks on the unique index until the first transaction ends, then inserts
    nothing and finds the committed purchase.
    """
    dialect = session.get_bind().dialect.name
    statement = _CLAIM_STATEMENTS.get(dialect)
    if statement is None:
        # Built once per database kind; the values come as parameters.
        statement = _CLAIM_STATEMENTS[dialect] = (
            upsert_insert(session, Purchase.__table__)
            .on_conflict_do_nothing(index_elements=["merchant_id", "external_id"])
            .returning(Purchase.__table__.c.id)
        )
    return session.execute(statement, values).first() is not None


_CLAIM_STATEMENTS: dict[str, Any] = {}


def record_purchase(
    session: Session,
    *,
    store_id: str | None,
    terminal_id: str | None,
    external_id: str,
    member_ref: dict[str, str] | None,
    occurred_at: datetime,
    currency: str,
    total_minor: int,
    items: list[dict[str, Any]],
    fingerprint: str,
    actor: Actor,
    ruleset: RuleSet | None = None,
) -> Outcome:
    """Record a sale and award its points once; a retry with the same body gets the same receipt.

    ``store_id`` may be None for a terminal's key (its own store). ``ruleset``
    defaults to the active rules.
    """
    setting = purchase_setting(session, store_id=store_id, actor=actor)
    store, program = setting.store, setting.program
    ruleset = ruleset or setting.ruleset
    try:
        if currency != program.currency:
            raise CurrencyMismatch(f"The program runs in {program.currency}, not {currency}.")
        # Found and locked in one statement: every change of the member's points queues here.
        member = find_member(session, **member_ref, lock=True) if member_ref else None
        if member is not None and member.status != ACTIVE:
            raise InvalidState("The member's account is not active.")
    except (CurrencyMismatch, InvalidState, MemberNotFound):
        # A retry is answered as the first time, whatever happened to the member since.
        existing = _existing_purchase(session, store.merchant_id, external_id)
        if existing is not None:
            return replay(existing, fingerprint, "purchase")
        raise

    # The purchase is the transaction's first write, and claims the idempotency key.
    values = {
        "id": new_id("pur"),
        "merchant_id": store.merchant_id,
        "store_id": store.id,
        "terminal_id": terminal_id,
        "external_id": external_id,
        "request_hash": fingerprint,
        "member_id": member.id if member else None,
        "occurred_at": occurred_at,
        "currency": currency,
        "total_minor": total_minor,
    }
    inserted = _claim_external_id(session, values)
    # The row as inserted, to carry what scoring decides into one UPDATE; never added to the session.
    purchase = row_object(Purchase, values)
    if not inserted:
        existing = _existing_purchase(session, store.merchant_id, external_id)
        if existing is None:
            raise RuntimeError("The purchase's external_id is taken, yet no purchase has it.")
        return replay(existing, fingerprint, "purchase")
    if items:
        session.execute(
            insert(PurchaseItem.__table__),
            [
                {
                    "purchase_id": purchase.id,
                    "line": n,
                    "sku": item["sku"],
                    "category": item.get("category"),
                    "quantity": item["quantity"],
                    "unit_price_minor": item["unit_price_minor"],
                }
                for n, item in enumerate(items, start=1)
            ],
        )

    facts = basket_facts(
        store=store, member=member, items=items, total_minor=total_minor, currency=currency, occurred_at=occurred_at
    )
    decision = score_and_count(session, ruleset, facts, member.id if member else None, funding=setting.funding)
    now = utcnow()
    available_at = max(occurred_at + timedelta(days=program.pending_days), now) if program.pending_days else now
    expires_at = add_months(available_at, program.expiry_months) if program.expiry_months else None
    breakdown = [
        {"rule_id": line.rule_id, "rule_name": line.rule_name, "points": line.points} for line in decision.breakdown
    ]
    purchase.points_awarded = decision.points
    # The stored breakdown also names the version of each rule that scored it.
    purchase.breakdown = [
        {**entry, "rule_version": line.rule_version} for entry, line in zip(breakdown, decision.breakdown, strict=True)
    ]
    purchase.rule_set_version = decision.ruleset_version
    purchase.available_at = available_at

    receipt: dict[str, Any] = {
        "id": purchase.id,
        "external_id": external_id,
        "member_id": member.id if member else None,
        "points_awarded": decision.points,
        "points_status": "pending" if available_at > now else "available",
        "available_at": isoformat_z(available_at),
        "breakdown": breakdown,
        "balance": None,
        "tier": None,
    }
    if member is not None:
        entry = _credit_member(
            session,
            member,
            purchase,
            kind="earn",
            points=decision.points,
            available_at=available_at,
            expires_at=expires_at,
            actor=actor,
            now=now,
        )
        if setting.has_webhooks:  # known from the setting's read: no query for merchants without subscriptions
            webhook_events.points_earned(session, purchase, member_id=member.id, kind="earn", points=decision.points)
        now_balance = ledger.Balance.after(member, entry) if entry else ledger.balance(session, member, now)
        receipt["balance"] = now_balance.as_dict()
        ledger.write_member(session, member)
        # The purchase that qualifies a member for a higher tier raises them at once.
        if setting.has_tiers:
            standing = tiers.apply_tier_rise(session, member, now=now, actor=actor, purchase=purchase)
            receipt["tier"] = standing.as_dict() if standing else None
    else:
        purchase.claim_code = _new_claim_code()
        purchase.claim_expires_at = occurred_at + timedelta(days=program.claim_window_days)
        receipt["claim_code"] = purchase.claim_code
    outcome = store_receipt(purchase, receipt)
    # What the scoring decided, written in one statement.
    session.execute(
        _SCORED,
        {
            "purchase_id": purchase.id,
            "points_awarded": purchase.points_awarded,
            "breakdown": purchase.breakdown,
            "rule_set_version": purchase.rule_set_version,
            "available_at": available_at,
            "claim_code": purchase.claim_code,
            "claim_expires_at": purchase.claim_expires_at,
            "receipt": purchase.receipt,
        },
    )
    session.flush()
    return outcome


# Built once; the SET values come as parameters named for their columns.
_SCORED = update(Purchase.__table__).where(Purchase.__table__.c.id == bindparam("purchase_id"))


def get_purchase(session: Session, purchase_id: str, *, actor: Actor, lock: bool = False) -> Purchase:
    """A purchase the actor may see; another merchant's is not found."""
    query = select(Purchase).where(Purchase.id == purchase_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    purchase = session.scalar(query)
    if purchase is None or not actor.sees_merchant(purchase.merchant_id):
        raise NotFound("No such purchase.")
    return purchase


def normalise_claim_code(code: str) -> str:
    """Upper case with the dash in place, whatever spacing the member typed."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{compact[:5]}-{compact[5:]}" if len(compact) == _CLAIM_LENGTH else code.strip().upper()


def claim_purchase(session: Session, *, member_id: str, claim_code: str, actor: Actor) -> dict[str, Any]:
    """Give a member the points of a purchase made without the card, once, within the claim window."""
    purchase = session.scalar(
        select(Purchase)
        .where(Purchase.claim_code == normalise_claim_code(claim_code))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if purchase is None:
        raise NotFound("No purchase has that claim code.", errors={"claim_code": ["Unknown code."]})
    if purchase.member_id is not None:
        raise AlreadyClaimed("The points of this purchase have already been claimed.")
    now = utcnow()
    if purchase.claim_expires_at is not None and now > purchase.claim_expires_at:
        raise InvalidState("The claim window of this purchase has closed.")
    member = ledger.lock_member(session, member_id)
    if member.status != ACTIVE:
        raise InvalidState("The member's account is not active.")
    purchase.member_id = member.id
    purchase.claimed_at = now
    points = purchase.points_awarded - purchase.points_reversed
    program = get_program(session)
    available_at = max(purchase.available_at or now, now)
    entry = _credit_member(
        session,
        member,
        purchase,
        kind="claim",
        points=points,
        available_at=available_at,
        expires_at=add_months(available_at, program.expiry_months) if program.expiry_months else None,
        actor=actor,
        now=now,
    )
    webhook_events.points_earned(session, purchase, member_id=member.id, kind="claim", points=points)
    standing = tiers.apply_tier_rise(session, member, now=now, actor=actor, purchase=purchase)
    session.flush()
    return {
        "purchase_id": purchase.id,
        "points": points,
        "entry_id": entry.id if entry else None,
        "balance": ledger.balance(session, member, now).as_dict(),
        "tier": standing.as_dict() if standing else None,
    }


def list_purchases(
    session: Session,
    *,
    actor: Actor,
    limit: int,
    cursor: str | None,
    member_id: str | None = None,
    store_id: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
) -> Page[Purchase]:
    """Purchases, newest first; merchant and terminal keys see their own merchant's only."""
    query = select(Purchase)
    if actor.merchant_id is not None:
        query = query.where(Purchase.merchant_id == actor.merchant_id)
    if member_id:
        query = query.where(Purchase.member_id == member_id)
    if store_id:
        query = query.where(Purchase.store_id == store_id)
    if from_:
        query = query.where(Purchase.occurred_at >= from_)
    if to:
        query = query.where(Purchase.occurred_at < to)
    return paginate(session, query, Purchase.id, limit=limit, cursor=cursor)
