"""A launch's background work: select the audience in one statement, then deliver in batches.

Both are outbox tasks: each runs in one transaction that also marks its outbox
message done, so a crash takes back the whole batch and its retry starts from
the same rows. A batch takes the next treatment members still ``selected``
(ordered by id) and, in its transaction, marks them ``offered`` (or why not):
a batch run again never finds them again, so nothing is given twice.

The contact-frequency cap is counted in ``contacts`` under the members' locks:
a batch locks its members in id order (``SELECT ... FOR NO KEY UPDATE`` on
PostgreSQL; SQLite has one writer at a time), then counts each member's
contacts in the window and inserts the new ones. Two campaigns delivering to
the same member at once queue on that lock, and the second counts the first's
contacts, so no member is ever messaged beyond the cap.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.services import record_events
from loyalty.campaigns.audience import audience_query, bucket_expression
from loyalty.campaigns.messaging import send_messages
from loyalty.campaigns.models import Campaign, CampaignMember
from loyalty.campaigns.offers import give_bonus, give_reward, take_budget
from loyalty.campaigns.services import COMPLETED, RUNNING, due_campaigns, finished_campaigns, start_campaign
from loyalty.db import unit_of_work, utcnow
from loyalty.errors import LoyaltyError
from loyalty.members.models import Member
from loyalty.outbox.services import add_task, task
from loyalty.rewards import services as rewards

log = logging.getLogger(__name__)

BATCH_SIZE = 500
SELECTED, HELD_OUT, OFFERED = "selected", "held_out", "offered"
# A treatment member not given the offer: over the budget, the reward unavailable, or no longer active.
OVER_BUDGET, UNAVAILABLE, INACTIVE = "over_budget", "reward_unavailable", "inactive"
QUEUE = "default"


def campaign_actor(campaign: Campaign) -> Actor:
    """Who the ledger and the audit name for what a campaign gives."""
    return Actor(kind="system", name=f"campaign {campaign.id}")


@task(queue=QUEUE, timeout=3600)
def select_audience(session: Session, *, campaign_id: str) -> None:
    """Draw the campaign's members in one ``INSERT ... SELECT``, each in a group by a stable hash."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if campaign is None or campaign.status != RUNNING or (campaign.progress or {}).get("phase") != "selecting":
        return
    now = utcnow()
    # The bucket once per member (an MD5 on PostgreSQL), then both columns from it.
    drawn = audience_query(
        campaign.audience,
        now=now,
        columns=[Member.id.label("member_id"), bucket_expression(session, campaign.id).label("bucket")],
    ).subquery("drawn")
    control = drawn.c.bucket < campaign.control_share_pct * 100
    query = select(
        literal(campaign.id).label("campaign_id"),
        drawn.c.member_id,
        case((control, literal("control")), else_=literal("treatment")).label("group"),
        case((control, literal(HELD_OUT)), else_=literal(SELECTED)).label("status"),
        literal(now, type_=CampaignMember.__table__.c.assigned_at.type).label("assigned_at"),
        literal(0).label("points_awarded"),
    )
    table = CampaignMember.__table__
    session.execute(
        insert(table).from_select(
            ["campaign_id", "member_id", "group", "status", "assigned_at", "points_awarded"], query
        )
    )
    sizes = dict(
        session.execute(
            select(table.c.group, func.count()).where(table.c.campaign_id == campaign.id).group_by(table.c.group)
        ).all()
    )
    campaign.treatment_size = sizes.get("treatment", 0)
    campaign.control_size = sizes.get("control", 0)
    campaign.audience_size = campaign.treatment_size + campaign.control_size
    campaign.progress = {
        "phase": "delivering",
        "selected": campaign.audience_size,
        "treatment": campaign.treatment_size,
        "control": campaign.control_size,
        "done": 0,
        "offered": 0,
        "contacts": 0,
        "not_contacted_consent": 0,
        "not_contacted_cap": 0,
        "over_budget": 0,
        "skipped": 0,
        "batches": 0,
    }
    session.flush()
    add_task(session, deliver_batch, campaign_id=campaign.id)


def _lock_members(session: Session, member_ids: list[str]) -> list[Member]:
    """The batch's members, locked in id order (a stable order: two batches never deadlock)."""
    return list(
        session.scalars(
            select(Member)
            .where(Member.id.in_(member_ids))
            .order_by(Member.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )


@task(queue=QUEUE, timeout=3600)
def deliver_batch(session: Session, *, campaign_id: str, batch_size: int = BATCH_SIZE) -> None:
    """Give the next batch of treatment members the offer and the message, within consent, cap and budget."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if campaign is None or campaign.status != RUNNING:
        return
    table = CampaignMember.__table__
    progress = dict(campaign.progress or {})
    # Walks the primary key from where the last batch stopped (kept in the same transaction as its work).
    member_ids = list(
        session.scalars(
            select(table.c.member_id)
            .where(
                table.c.campaign_id == campaign.id,
                table.c.member_id > progress.get("after", ""),
                table.c.group == "treatment",
                table.c.status == SELECTED,
            )
            .order_by(table.c.member_id)
            .limit(batch_size)
        )
    )
    if not member_ids:
        progress["phase"] = "delivered"
        campaign.progress = progress
        return
    now = utcnow()
    actor = campaign_actor(campaign)
    members = _lock_members(session, member_ids)
    active = [m for m in members if m.status == "active" and m.erased_at is None]
    outcome: dict[str, dict[str, Any]] = {m: {"status": INACTIVE} for m in member_ids}

    offer = campaign.offer or {}
    audit: list[dict[str, Any]] = []
    given: list[Member] = []
    if offer.get("type") == "bonus":
        covered = take_budget(session, campaign, len(active), offer["points"])
        entries = give_bonus(session, campaign, active[:covered], offer["points"], actor, now) if covered else []
        for member, entry in zip(active[:covered], entries, strict=True):
            outcome[member.id] = {"status": OFFERED, "points_awarded": offer["points"]}
            audit.append(
                {
                    "action": "member.adjust",
                    "object_type": "member",
                    "object_id": member.id,
                    "data": {"campaign_id": campaign.id, "entry_id": entry.id, "points": offer["points"]},
                }
            )
            given.append(member)
        for member in active[covered:]:
            outcome[member.id] = {"status": OVER_BUDGET}
    elif offer.get("type") == "reward":
        reward = rewards.get_reward(session, offer["reward_id"], actor=actor)
        for member in active:
            if take_budget(session, campaign, 1, reward.points_cost) == 0:
                outcome[member.id] = {"status": OVER_BUDGET}
                continue
            try:
                with session.begin_nested():
                    redemption_id = give_reward(session, campaign, member, reward, actor, now)
            except LoyaltyError as error:
                # Out of stock, above the member's tier, over its limit: the budget is given back.
                log.info("campaign %s: reward not granted to %s: %s", campaign.id, member.id, error)
                session.execute(
                    update(Campaign.__table__)
                    .where(Campaign.__table__.c.id == campaign.id)
                    .values(points_spent=Campaign.__table__.c.points_spent - reward.points_cost)
                )
                campaign.points_spent -= reward.points_cost
                outcome[member.id] = {"status": UNAVAILABLE}
                continue
            outcome[member.id] = {
                "status": OFFERED,
                "points_awarded": reward.points_cost,
                "redemption_id": redemption_id,
            }
            audit.append(
                {
                    "action": "campaign.reward_granted",
                    "object_type": "member",
                    "object_id": member.id,
                    "data": {"campaign_id": campaign.id, "reward_id": reward.id, "redemption_id": redemption_id},
                }
            )
            given.append(member)
    else:  # a rule offer: being in the treatment group is the offer
        for member in active:
            outcome[member.id] = {"status": OFFERED}
        given = list(active)

    contacts = send_messages(session, campaign, given, now=now, progress=progress)
    for result in outcome.values():
        result.setdefault("points_awarded", 0)
        result.setdefault("redemption_id", None)
        result["offered_at"] = now if result["status"] == OFFERED else None
    session.execute(
        update(CampaignMember),
        [{"campaign_id": campaign.id, "member_id": member_id, **result} for member_id, result in outcome.items()],
    )
    if audit:
        record_events(session, actor=actor, events=audit)
    statuses = [result["status"] for result in outcome.values()]
    progress["done"] = progress.get("done", 0) + len(member_ids)
    progress["offered"] = progress.get("offered", 0) + statuses.count(OFFERED)
    progress["over_budget"] = progress.get("over_budget", 0) + statuses.count(OVER_BUDGET)
    progress["skipped"] = progress.get("skipped", 0) + statuses.count(INACTIVE) + statuses.count(UNAVAILABLE)
    progress["contacts"] = progress.get("contacts", 0) + contacts
    progress["batches"] = progress.get("batches", 0) + 1
    progress["after"] = member_ids[-1]
    campaign.progress = progress
    session.flush()
    add_task(session, deliver_batch, campaign_id=campaign.id, batch_size=batch_size)


# ---- the schedule ----------------------------------------------------------------------------


def run_campaign_schedule(now: datetime | None = None) -> dict[str, int]:
    """Start scheduled campaigns whose time has come; complete running ones past their end (rq cron)."""
    now = now or utcnow()
    started = completed = 0
    with unit_of_work() as session:
        due = due_campaigns(session, now)
    for campaign_id in due:
        with unit_of_work() as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
            if campaign is not None and campaign.status == "scheduled":
                start_campaign(session, campaign, actor=campaign_actor(campaign))
                started += 1
    with unit_of_work() as session:
        finished = finished_campaigns(session, now)
    for campaign_id in finished:
        with unit_of_work() as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
            if campaign is not None and campaign.status == RUNNING:
                campaign.status = COMPLETED
                campaign.completed_at = now
                completed += 1
    return {"started": started, "completed": completed}
