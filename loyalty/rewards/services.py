"""Redemptions: points spent on a reward (a code to use once) or as payment at a till.

Every redemption of a member is made under the member's lock
(``ledger.lock_member``), so the balance, the member's idempotency keys and
per-member limits are read and changed one redemption at a time, and the
available balance never goes below zero however many arrive at once. A
reward's stock is shared by every member: it is taken with one conditional
``UPDATE ... WHERE issued < stock``, which PostgreSQL re-checks against the
latest committed row when two transactions race, so it never goes below zero.

Locks are always taken in the same order (member, then redemption, then
reward), so a cancellation, a use and new redemptions never deadlock.

The catalog itself lives in ``catalog.py``; its public functions are
re-exported here. Cancelling a redemption and using its code live in
``usage.py``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.db import isoformat_z, new_id, utcnow
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidState,
    NotFound,
    RewardUnavailable,
    ValidationFailed,
)
from loyalty.idempotency import Outcome, receipt_text
from loyalty.idempotency import request_hash as request_hash
from loyalty.ledger import services as ledger
from loyalty.members.services import ACTIVE as MEMBER_ACTIVE
from loyalty.merchants.services import get_store, merchant_is_active
from loyalty.program.services import get_program
from loyalty.rewards.catalog import ACTIVE as ACTIVE
from loyalty.rewards.catalog import ARCHIVED as ARCHIVED
from loyalty.rewards.catalog import DEFAULT_VALID_DAYS as DEFAULT_VALID_DAYS
from loyalty.rewards.catalog import STATUSES as STATUSES
from loyalty.rewards.catalog import check_available, meets_min_tier
from loyalty.rewards.catalog import create_reward as create_reward
from loyalty.rewards.catalog import get_reward as get_reward
from loyalty.rewards.catalog import list_rewards as list_rewards
from loyalty.rewards.catalog import unavailable_because as unavailable_because
from loyalty.rewards.catalog import update_reward as update_reward
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.queries import get_redemption as get_redemption
from loyalty.rewards.queries import list_member_redemptions as list_member_redemptions
from loyalty.text import has_control_characters, usable_id
from loyalty.tiers import services as tiers
from loyalty.units import floor_div
from loyalty.webhooks import events as webhook_events

REWARD, PAYMENT = "reward", "payment"
KINDS = (REWARD, PAYMENT)
ISSUED, USED, CANCELLED, COMPLETED = "issued", "used", "cancelled", "completed"
REDEMPTION_STATUSES = (ISSUED, USED, CANCELLED, COMPLETED)
# Codes are read out, typed and scanned at the till: no look-alike characters.
# 12 of 31 characters is about 59 random bits, so a code cannot be guessed.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 12
LARGEST_POINTS = 10**12
MAX_KEY_LENGTH = 100


# ---- shared ----------------------------------------------------------------------------------


def _new_code() -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def normalise_code(code: str) -> str:
    """Upper case with the dashes in place, whatever spacing the till or member typed."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(compact) != _CODE_LENGTH:
        return code.strip().upper()
    return "-".join(compact[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def _check_key(idempotency_key: Any) -> None:
    if (
        not isinstance(idempotency_key, str)
        or not 0 < len(idempotency_key) <= MAX_KEY_LENGTH
        or has_control_characters(idempotency_key)
    ):
        raise ValidationFailed(
            f"The idempotency_key is 1 to {MAX_KEY_LENGTH} characters of text.",
            errors={"idempotency_key": ["Not a usable key."]},
        )


def _existing(session: Session, member_id: str, idempotency_key: str) -> Redemption | None:
    _check_key(idempotency_key)
    if not usable_id(member_id):
        return None
    return session.scalar(
        select(Redemption)
        .where(Redemption.member_id == member_id, Redemption.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    )


def _replay(existing: Redemption, fingerprint: str, merchant_id: str | None) -> Outcome:
    # A key is the member's; another merchant's till reusing it must not read the first receipt.
    if existing.request_hash != fingerprint or existing.merchant_id != merchant_id:
        raise IdempotencyConflict(
            "This idempotency_key was already used for this member with a different body; use a new key."
        )
    return Outcome(receipt_json=existing.receipt, replayed=True)


def redemption_place(session: Session, actor: Actor, store_id: str | None) -> tuple[str | None, str | None]:
    """(merchant_id, store_id) where points are redeemed: a terminal's own store, or the store named."""
    if actor.role is Role.TERMINAL:
        if store_id is not None and store_id != actor.store_id:
            raise NotFound("No such store.")
        return actor.merchant_id, actor.store_id
    if store_id is None:
        return (actor.merchant_id, None) if actor.role is Role.MERCHANT else (None, None)
    store = get_store(session, store_id, actor=actor)
    return store.merchant_id, store.id


def _check_active(member) -> None:
    if member.status != MEMBER_ACTIVE:
        raise InvalidState("The member's account is not active.")


def _check_points(session: Session, member, points: int, now: datetime) -> None:
    available = ledger.balance(session, member, now).available
    if available < points:
        raise InsufficientPoints(
            f"The member has {max(available, 0)} points available; {points} are needed.",
            errors={"points": [f"{max(available, 0)} available."]},
        )


def _record(
    session: Session, member, redemption: Redemption, receipt: dict[str, Any], *, actor: Actor, note: str, now: datetime
) -> Outcome:
    """Take the redemption's points, then store it with its receipt (the answer, with the balance after)."""
    taken = ledger.take_points(
        session,
        member,
        kind="redeem",
        points=redemption.points,
        context=ledger.EntryContext(
            actor=actor,
            merchant_id=redemption.merchant_id,
            store_id=redemption.store_id,
            redemption_id=redemption.id,
            note=note,
        ),
        now=now,
    )
    redemption.points_expire_at = taken.earliest_expiry
    receipt = {"id": redemption.id, "kind": redemption.kind, "member_id": member.id, **receipt}
    receipt["balance"] = ledger.balance(session, member, now).as_dict()
    redemption.receipt = receipt_text(receipt)
    session.add(redemption)
    session.flush()
    return Outcome(receipt_json=redemption.receipt, replayed=False)


# ---- redeeming -------------------------------------------------------------------------------


def redeem_reward(
    session: Session,
    *,
    member_id: str,
    reward_id: str,
    idempotency_key: str,
    fingerprint: str,
    actor: Actor,
    store_id: str | None = None,
    granted_by_campaign_id: str | None = None,
) -> Outcome:
    """Take a reward's points from the member at once and issue its code; a retry replays the first answer.

    ``RewardUnavailable`` when it is archived, outside its window, out of stock,
    above the member's tier or over the member's limit; ``InsufficientPoints``
    when the member has too few points available. Either way nothing changes.
    ``granted_by_campaign_id`` marks a campaign's gift, whose points the campaign
    credited just before: cancelling it gives none back.
    """
    merchant_id, store_id = redemption_place(session, actor, store_id)
    member = ledger.lock_member(session, member_id)
    # Under the member's lock: a concurrent retry with this key has committed or not started,
    # and a retry is answered as the first time whatever happened to the account since.
    existing = _existing(session, member_id, idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint, merchant_id)
    _check_active(member)

    now = utcnow()
    reward = get_reward(session, reward_id, actor=actor)
    check_available(reward, now)
    if reward.merchant_id is not None and not merchant_is_active(session, reward.merchant_id):
        raise RewardUnavailable(
            "The partner offering this reward is suspended; its rewards return when it is reactivated.",
            errors={"reward_id": ["The partner is suspended."]},
        )
    ranks = {tier.code: tier.rank for tier in tiers.list_tiers(session)} if reward.min_tier else {}
    if not meets_min_tier(reward, member.tier_code, ranks):
        raise RewardUnavailable(
            f"The reward is for members of tier {reward.min_tier} and above.",
            errors={"reward_id": [f"For tier {reward.min_tier}."]},
        )
    if reward.per_member_limit is not None:
        held = session.scalar(
            select(func.count())
            .select_from(Redemption)
            .where(
                Redemption.member_id == member.id,
                Redemption.reward_id == reward.id,
                Redemption.status != CANCELLED,
            )
        )
        if held >= reward.per_member_limit:
            raise RewardUnavailable(
                f"The member has already redeemed this reward {held} times, its limit.",
                errors={"reward_id": ["The member's limit is reached."]},
            )
    _check_points(session, member, reward.points_cost, now)
    taken_from_stock = session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.stock.is_(None) | (Reward.issued < Reward.stock))
        .values(issued=Reward.issued + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken_from_stock != 1:
        # Another member took the last one between the check above and now.
        raise RewardUnavailable("The reward is out of stock.", errors={"reward_id": ["Out of stock."]})

    redemption = Redemption(
        id=new_id("rdm"),
        member_id=member.id,
        reward_id=reward.id,
        kind=REWARD,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        points=reward.points_cost,
        # About 59 random bits: a clash with an existing code is as good as impossible, and would
        # only fail this request, with nothing written.
        code=_new_code(),
        status=ISSUED,
        expires_at=now + timedelta(days=reward.valid_days) if reward.valid_days else None,
        merchant_id=merchant_id,
        store_id=store_id,
        granted_by_campaign_id=granted_by_campaign_id,
        created_at=now,
    )
    receipt = {
        "reward_id": reward.id,
        "code": redemption.code,
        "status": ISSUED,
        "points": redemption.points,
        "expires_at": isoformat_z(redemption.expires_at),
    }
    outcome = _record(session, member, redemption, receipt, actor=actor, note=reward.name, now=now)
    webhook_events.reward_issued(session, redemption, reward)
    return outcome


def payment_value(session: Session, points: int) -> tuple[int, str]:
    """What ``points`` pay at the program's redemption rate, rounded down: ``(value_minor, currency)``."""
    program = get_program(session)
    return floor_div(points * program.redemption_value_minor, program.redemption_points), program.currency


def pay_with_points(
    session: Session,
    *,
    member_id: str,
    points: int,
    idempotency_key: str,
    fingerprint: str,
    actor: Actor,
    store_id: str | None = None,
) -> Outcome:
    """Spend points as payment at the program's rate; a retry replays the first answer.

    All the points asked for are taken; their value is rounded down to a whole
    minor unit. Points worth less than one minor unit are a ``ValidationFailed``.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= LARGEST_POINTS:
        raise ValidationFailed("points is a positive whole number.", errors={"points": ["A positive integer."]})
    merchant_id, store_id = redemption_place(session, actor, store_id)
    member = ledger.lock_member(session, member_id)
    # Under the member's lock: a concurrent retry with this key has committed or not started,
    # and a retry is answered as the first time whatever happened to the account since.
    existing = _existing(session, member_id, idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint, merchant_id)
    _check_active(member)

    value_minor, currency = payment_value(session, points)
    if value_minor < 1:
        program = get_program(session)
        least = -floor_div(-program.redemption_points, program.redemption_value_minor)
        raise ValidationFailed(
            f"{points} points are worth less than one minor unit of {currency}; at least {least} are needed.",
            errors={"points": [f"At least {least}."]},
        )
    now = utcnow()
    _check_points(session, member, points, now)
    redemption = Redemption(
        id=new_id("rdm"),
        member_id=member.id,
        kind=PAYMENT,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        points=points,
        value_minor=value_minor,
        currency=currency,
        status=COMPLETED,
        merchant_id=merchant_id,
        store_id=store_id,
        created_at=now,
    )
    receipt = {"points": points, "value_minor": value_minor, "currency": currency, "status": COMPLETED}
    note = f"Payment of {value_minor} {currency}"
    return _record(session, member, redemption, receipt, actor=actor, note=note, now=now)
