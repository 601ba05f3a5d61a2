"""What a campaign gives: its budget taken first, then bonus points or a reward, through the ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.campaigns.models import Campaign
from loyalty.db import add_months
from loyalty.ledger import services as ledger
from loyalty.members.models import Member
from loyalty.program.services import get_program
from loyalty.rewards import services as rewards


def take_budget(session: Session, campaign: Campaign, wanted: int, each: int) -> int:
    """How many of ``wanted`` grants of ``each`` points the budget covers; those points are spent here.

    One conditional UPDATE: ``points_spent`` only grows while it stays within the budget,
    and the check constraint ``budget_never_overspent`` stands behind it.
    """
    if wanted <= 0 or each <= 0:
        return 0
    count = wanted
    if campaign.budget_points is not None:
        count = min(wanted, max(campaign.budget_points - campaign.points_spent, 0) // each)
    if count == 0:
        return 0
    points = count * each
    table = Campaign.__table__
    spent = session.execute(
        update(table)
        .where(
            table.c.id == campaign.id,
            table.c.budget_points.is_(None) | (table.c.points_spent + points <= table.c.budget_points),
        )
        .values(points_spent=table.c.points_spent + points)
        .returning(table.c.points_spent)
    ).scalar_one_or_none()
    if spent is None:
        return 0
    campaign.points_spent = spent
    return count


def give_bonus(session: Session, campaign: Campaign, members: list[Member], points: int, actor: Actor, now):
    """Credit the batch's members at once through the ledger (one insert, one update for them all)."""
    expiry_months = get_program(session).expiry_months
    return ledger.add_points_to_many(
        session,
        members,
        kind="adjust",
        points=points,
        expires_at=add_months(now, expiry_months) if expiry_months else None,
        context=ledger.EntryContext(actor=actor, note=f"Campaign {campaign.name} ({campaign.id}): bonus points"),
        now=now,
    )


def give_reward(session: Session, campaign: Campaign, member: Member, reward, actor: Actor, now: datetime) -> str:
    """Grant a reward: its cost credited as the campaign's points, then redeemed for its code at once."""
    ledger.add_points(
        session,
        member,
        kind="adjust",
        points=reward.points_cost,
        available_at=now,
        expires_at=None,
        context=ledger.EntryContext(
            actor=actor, note=f"Campaign {campaign.name} ({campaign.id}): reward {reward.name} granted"
        ),
        now=now,
    )
    outcome = rewards.redeem_reward(
        session,
        member_id=member.id,
        reward_id=reward.id,
        idempotency_key=f"campaign:{campaign.id}",
        fingerprint=rewards.request_hash({"campaign_id": campaign.id, "reward_id": reward.id}),
        actor=actor,
        granted_by_campaign_id=campaign.id,
    )
    return outcome.receipt["id"]
