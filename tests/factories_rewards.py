"""Reward helpers: a catalog entry, points to spend, and redemptions made through the services."""

from __future__ import annotations

from typing import Any

from loyalty.actors import cli_actor
from tests.factories import unique


def make_reward(session, *, points_cost: int = 100, **fields: Any):
    """A reward in the catalog, offered now (an operator reward unless ``merchant_id`` is given)."""
    from loyalty.rewards.services import create_reward

    reward = create_reward(
        session, reward={"name": unique("Reward "), "points_cost": points_cost, **fields}, actor=cli_actor()
    )
    session.commit()
    return reward


def give_points(session, member, points: int, *, expires_at=None):
    """Points available at once, as an operator's adjustment."""
    from loyalty.db import utcnow
    from loyalty.ledger import services as ledger

    locked = ledger.lock_member(session, member.id)
    entry = ledger.add_points(
        session,
        locked,
        kind="adjust",
        points=points,
        available_at=utcnow(),
        expires_at=expires_at,
        context=ledger.EntryContext(actor=cli_actor(), note="test points"),
    )
    session.commit()
    return entry


def redeem(session, member, reward, *, key: str | None = None, actor=None, store_id: str | None = None):
    """Redeem ``reward`` for ``member`` and commit; returns the outcome."""
    from loyalty.rewards.services import redeem_reward

    key = key or unique("key-")
    outcome = redeem_reward(
        session,
        member_id=member.id,
        reward_id=reward.id,
        idempotency_key=key,
        fingerprint=key,
        actor=actor or cli_actor(),
        store_id=store_id,
    )
    session.commit()
    return outcome
