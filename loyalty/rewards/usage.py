"""After a redemption: cancelling it while unused (its points and stock come back) and using its code, once.

Locks are taken in the order ``services.py`` describes (member, then
redemption, then reward), so these never deadlock with new redemptions.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import isoformat_z, utcnow
from loyalty.errors import AlreadyUsed, InvalidState, NotFound, RedemptionCancelled, RedemptionExpired
from loyalty.ledger import services as ledger
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.queries import get_redemption
from loyalty.rewards.services import CANCELLED, REWARD, USED, normalise_code, redemption_place
from loyalty.text import has_control_characters
from loyalty.webhooks import events as webhook_events


def cancel_redemption(session: Session, *, redemption_id: str, actor: Actor) -> tuple[Redemption, ledger.Balance]:
    """Cancel an unused reward redemption: its points come back at once and its stock is freed.

    The points come back with the earliest expiry of the points spent, so a
    cancellation never lengthens their life. A campaign's gift gives no points
    back: they were the campaign's, credited only to be spent on it, so
    cancelling it frees its stock and leaves the balance as it was before the
    gift. Cancelling a cancelled redemption changes nothing; a used one is
    ``AlreadyUsed``, a payment ``InvalidState``.
    """
    redemption = get_redemption(session, redemption_id, actor=actor)
    member = ledger.lock_member(session, redemption.member_id)
    redemption = get_redemption(session, redemption_id, actor=actor, for_update=True)
    now = utcnow()
    if redemption.kind != REWARD:
        raise InvalidState("A payment with points cannot be cancelled.")
    if redemption.status == USED:
        raise AlreadyUsed(f"The code was used at {isoformat_z(redemption.used_at)}; it cannot be cancelled.")
    if redemption.status == CANCELLED:
        return redemption, ledger.balance(session, member, now)
    points_back = 0 if redemption.granted_by_campaign_id else redemption.points
    if points_back:
        ledger.add_points(
            session,
            member,
            kind="redeem_cancel",
            points=points_back,
            available_at=now,
            expires_at=redemption.points_expire_at,
            context=ledger.EntryContext(
                actor=actor,
                merchant_id=redemption.merchant_id,
                store_id=redemption.store_id,
                redemption_id=redemption.id,
                note="Redemption cancelled",
            ),
            now=now,
        )
    session.execute(
        update(Reward)
        .where(Reward.id == redemption.reward_id, Reward.issued > 0)
        .values(issued=Reward.issued - 1)
        .execution_options(synchronize_session=False)
    )
    redemption.status = CANCELLED
    redemption.cancelled_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        action="redemption.cancel",
        object_type="redemption",
        object_id=redemption.id,
        merchant_id=redemption.merchant_id,
        data={
            "member_id": redemption.member_id,
            "reward_id": redemption.reward_id,
            "points": redemption.points,
            "points_back": points_back,
        },
    )
    return redemption, ledger.balance(session, member, now)


def use_redemption(
    session: Session, *, code: str, actor: Actor, store_id: str | None = None, use_key: str | None = None
) -> tuple[Redemption, bool]:
    """Mark a reward's code used, once, at a store of the merchant whose reward it is (any for the operator's).

    Returns the redemption and whether this was a replay: a till that lost the
    answer and sends the same ``use_key`` again is told it succeeded, while any
    other second use is ``AlreadyUsed``. An unknown code, or another merchant's
    reward, is not found; ``RedemptionCancelled`` or ``RedemptionExpired`` otherwise.
    """
    redemption = None
    if isinstance(code, str) and 0 < len(code) <= 64 and not has_control_characters(code):
        redemption = session.scalar(
            select(Redemption)
            .where(Redemption.code == normalise_code(code))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    reward = session.get(Reward, redemption.reward_id) if redemption is not None else None
    merchant_id, store_id = redemption_place(session, actor, store_id)
    if actor.role not in (Role.MERCHANT, Role.TERMINAL):
        merchant_id = merchant_id or (reward.merchant_id if reward else None)
    if redemption is None or reward is None or reward.merchant_id not in (None, merchant_id):
        raise NotFound("No redemption has that code here.", errors={"code": ["Unknown code."]})
    now = utcnow()
    if redemption.status == USED:
        if use_key is not None and redemption.used_key == use_key and redemption.used_merchant_id == merchant_id:
            return redemption, True
        raise AlreadyUsed(f"This code was already used, at {isoformat_z(redemption.used_at)}.")
    if redemption.status == CANCELLED:
        raise RedemptionCancelled("This redemption was cancelled; its code cannot be used.")
    if redemption.expires_at is not None and now >= redemption.expires_at:
        raise RedemptionExpired(f"This code expired at {isoformat_z(redemption.expires_at)}.")
    redemption.status = USED
    redemption.used_at = now
    redemption.used_merchant_id = merchant_id
    redemption.used_store_id = store_id
    redemption.used_key = use_key
    session.flush()
    webhook_events.reward_used(session, redemption, reward)
    return redemption, False
