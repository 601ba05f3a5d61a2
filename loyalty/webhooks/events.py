"""The events partners receive, built where the change happens, and which merchants receive each.

- ``member.enrolled``: the merchant whose key enrolled the member (at its till or
  by its back office); none for an enrolment by the operator or in the portal.
- ``points.earned`` (a purchase by a member, or a claim of an anonymous one) and
  ``points.returned``: the merchant of the purchase.
- ``reward.issued``: the merchant where it was redeemed (a merchant or terminal
  key, or the store named) and the merchant whose reward it is.
- ``reward.used``: the merchant where the code was used and the merchant whose
  reward it is.
- ``tier.changed``: the merchant that enrolled the member and, for a rise on a
  purchase or a claim, the merchant of that purchase.

Payloads carry ids and figures, never a member's contact details or a reward's
code: a partner that needs more asks the API with its own key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loyalty.db import isoformat_z, utcnow
from loyalty.webhooks.sending import emit_event, emit_events


def member_enrolled(session: Session, member: Any) -> None:
    """A member enrolled by a merchant's key."""
    emit_event(
        session,
        type="member.enrolled",
        merchant_ids=[member.enrolled_by_merchant_id],
        data={
            "member_id": member.id,
            "card_number": member.card_number,
            "merchant_id": member.enrolled_by_merchant_id,
            "store_id": member.enrolled_at_store_id,
            "tier": member.tier_code,
            "enrolled_at": isoformat_z(member.enrolled_at or utcnow()),
        },
    )


def points_earned(session: Session, purchase: Any, *, member_id: str, kind: str, points: int) -> None:
    """Points a member earned on a purchase (``kind`` earn) or by claiming it later (``kind`` claim)."""
    if points <= 0:
        return
    emit_event(
        session,
        type="points.earned",
        merchant_ids=[purchase.merchant_id],
        data={
            "member_id": member_id,
            "kind": kind,
            "points": points,
            "available_at": isoformat_z(purchase.available_at),
            "purchase_id": purchase.id,
            "external_id": purchase.external_id,
            "merchant_id": purchase.merchant_id,
            "store_id": purchase.store_id,
            "total_minor": purchase.total_minor,
            "currency": purchase.currency,
            "occurred_at": isoformat_z(purchase.occurred_at),
        },
    )


def points_returned(session: Session, purchase: Any, purchase_return: Any, *, points: int) -> None:
    """Points taken back from a member by a return of the purchase."""
    emit_event(
        session,
        type="points.returned",
        merchant_ids=[purchase.merchant_id],
        data={
            "member_id": purchase.member_id,
            "points": points,
            "return_id": purchase_return.id,
            "external_id": purchase_return.external_id,
            "amount_minor": purchase_return.amount_minor,
            "purchase_id": purchase.id,
            "purchase_external_id": purchase.external_id,
            "merchant_id": purchase.merchant_id,
            "store_id": purchase.store_id,
        },
    )


def reward_issued(session: Session, redemption: Any, reward: Any) -> None:
    """A reward redeemed for points: its code is issued to the member (the code itself is not sent)."""
    emit_event(
        session,
        type="reward.issued",
        merchant_ids=[redemption.merchant_id, reward.merchant_id],
        data={
            "redemption_id": redemption.id,
            "member_id": redemption.member_id,
            "reward_id": reward.id,
            "reward_name": reward.name,
            "reward_merchant_id": reward.merchant_id,
            "points": redemption.points,
            "merchant_id": redemption.merchant_id,
            "store_id": redemption.store_id,
            "expires_at": isoformat_z(redemption.expires_at),
        },
    )


def reward_used(session: Session, redemption: Any, reward: Any) -> None:
    """A reward's code used at a till."""
    emit_event(
        session,
        type="reward.used",
        merchant_ids=[redemption.used_merchant_id, reward.merchant_id],
        data={
            "redemption_id": redemption.id,
            "member_id": redemption.member_id,
            "reward_id": reward.id,
            "reward_merchant_id": reward.merchant_id,
            "points": redemption.points,
            "merchant_id": redemption.used_merchant_id,
            "store_id": redemption.used_store_id,
            "used_at": isoformat_z(redemption.used_at),
        },
    )


def tier_change(
    member_id: str,
    *,
    enrolled_by: str | None,
    old: str | None,
    new: str | None,
    direction: str,
    qualifying_points: int,
    cause: str,
    merchant_id: str | None = None,
    purchase_id: str | None = None,
) -> tuple[str, list[str | None], dict[str, Any]]:
    """A ``tier.changed`` event for ``emit_events``: ``direction`` up or down, ``cause`` purchase, claim or review."""
    return (
        "tier.changed",
        [enrolled_by, merchant_id],
        {
            "member_id": member_id,
            "from": old,
            "to": new,
            "direction": direction,
            "qualifying_points": qualifying_points,
            "cause": cause,
            "merchant_id": merchant_id,
            "purchase_id": purchase_id,
        },
    )


def tiers_changed(session: Session, changes: list[tuple[str, list[str | None], dict[str, Any]]]) -> None:
    """Tier changes made together (a purchase's rise, or a batch of the review)."""
    if changes:
        emit_events(session, changes)
