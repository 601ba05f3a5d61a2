"""Returns: goods or an amount given back, and the purchase's points taken back in proportion, once.

A return's ``external_id`` is its idempotency key, per merchant, as a
purchase's is. The purchase row is locked first, so two returns of the same
purchase at once queue, and together never give back more than was bought. The
points come back from the purchase's own lot first (pending points before
available ones); the balance may go below zero only as far as API.md allows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.db import utcnow
from loyalty.errors import IdempotencyConflict, ReturnExceedsPurchase, ValidationFailed
from loyalty.idempotency import Outcome
from loyalty.ledger import services as ledger
from loyalty.purchases.models import Purchase, PurchaseReturn
from loyalty.purchases.services import get_purchase, replay, store_receipt
from loyalty.units import floor_div
from loyalty.webhooks import events as webhook_events


def _returned_value(purchase: Purchase, items: list[dict[str, Any]] | None, amount_minor: int | None) -> int:
    """The value of this return in minor units, marking the items returned."""
    left = purchase.total_minor - purchase.returned_minor
    if amount_minor is not None:
        if amount_minor > left:
            raise ReturnExceedsPurchase(
                f"Only {left} of the purchase's {purchase.total_minor} can still be returned.",
                errors={"amount_minor": [f"At most {left}."]},
            )
        return amount_minor
    value = 0
    wanted: dict[str, int] = {}
    for item in items or []:
        wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["quantity"]
    for sku, quantity in wanted.items():
        lines = [line for line in purchase.items if line.sku == sku]
        returnable = sum(line.quantity - line.returned_quantity for line in lines)
        if quantity > returnable:
            raise ReturnExceedsPurchase(
                f"{quantity} of {sku!r} returned, but only {returnable} can still be returned.",
                errors={"items": [f"{sku}: at most {returnable}."]},
            )
        for line in lines:
            part = min(quantity, line.quantity - line.returned_quantity)
            line.returned_quantity += part
            value += part * line.unit_price_minor
            quantity -= part
    # Line prices can add up to more than a discounted total; never return more than was paid.
    return min(value, left)


def return_purchase(
    session: Session,
    *,
    purchase_id: str,
    external_id: str,
    items: list[dict[str, Any]] | None,
    amount_minor: int | None,
    fingerprint: str,
    actor: Actor,
) -> Outcome:
    """Give back goods or an amount; the purchase's points come back in proportion, once."""
    if (items is None) == (amount_minor is None):
        raise ValidationFailed("A return names either items or amount_minor.")
    purchase = get_purchase(session, purchase_id, actor=actor, lock=True)
    existing = session.scalar(
        select(PurchaseReturn).where(
            PurchaseReturn.merchant_id == purchase.merchant_id, PurchaseReturn.external_id == external_id
        )
    )
    if existing is not None:
        if existing.purchase_id != purchase.id:
            raise IdempotencyConflict("This return external_id was already used for another purchase.")
        return replay(existing, fingerprint, "return")

    value = _returned_value(purchase, items, amount_minor)
    purchase.returned_minor += value
    if purchase.total_minor:
        reversed_total = floor_div(purchase.points_awarded * purchase.returned_minor, purchase.total_minor)
    else:
        reversed_total = (
            purchase.points_awarded if all(i.returned_quantity == i.quantity for i in purchase.items) else 0
        )
    points = reversed_total - purchase.points_reversed
    purchase.points_reversed = reversed_total
    record = PurchaseReturn(
        purchase_id=purchase.id,
        merchant_id=purchase.merchant_id,
        external_id=external_id,
        request_hash=fingerprint,
        amount_minor=value,
        items=items or [],
        points_reversed=points,
    )
    session.add(record)
    session.flush()
    receipt: dict[str, Any] = {
        "id": record.id,
        "purchase_id": purchase.id,
        "external_id": external_id,
        "amount_minor": value,
        "points_reversed": points,
        "balance": None,
    }
    if purchase.member_id is not None:
        now = utcnow()
        member = ledger.lock_member(session, purchase.member_id)
        if points > 0:
            ledger.take_points(
                session,
                member,
                kind="return",
                points=points,
                first_lot=ledger.lot_for_purchase(session, purchase.id),
                may_go_negative=True,
                context=ledger.EntryContext(
                    actor=actor,
                    merchant_id=purchase.merchant_id,
                    store_id=purchase.store_id,
                    purchase_id=purchase.id,
                    note=f"Return {external_id}",
                ),
                now=now,
            )
            webhook_events.points_returned(session, purchase, record, points=points)
        receipt["balance"] = ledger.balance(session, member, now).as_dict()
    outcome = store_receipt(record, receipt)
    session.flush()
    return outcome
