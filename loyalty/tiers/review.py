"""The tier review: set-based, batch by batch over the active members.

For each batch of members (by id) the review reads the members and their
qualifying points in two statements, decides in memory, and writes the changes
back in a fixed number of statements, however large the batch: one bulk
update of the members, one insert of the notifications and one of their
deliveries, one of the audit events. The members of the batch are locked
while it runs, so a purchase of one of them waits for it, and the review sees
every purchase committed before.

For each member:

- qualifying for a higher tier than they hold (after a change of the tier
  list, say): they rise at once;
- short of their tier and not yet at risk: the grace period starts now
  (``tier_at_risk_since``, ``tier_grace_until``) and they are warned
  (``tier_at_risk``);
- still short once the grace period is over: they fall by exactly one tier
  (``tier_lowered``, or ``tier_ended`` from the lowest), audited. If they are
  short of that tier too, the next review starts a new grace period for it,
  so a member never falls two tiers without a warning and a full grace period
  between;
- at risk but qualifying again: the mark is cleared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from loyalty.actors import SYSTEM
from loyalty.audit.services import record_events
from loyalty.db import isoformat_z
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.members.services import ACTIVE
from loyalty.notifications.services import queue_notifications
from loyalty.program.services import get_program
from loyalty.tiers.services import QUALIFYING_KINDS, list_tiers, reached_tier, tier_below, window_start
from loyalty.webhooks import events as webhook_events

BATCH_SIZE = 1000


@dataclass
class ReviewCounts:
    reviewed: int = 0
    raised: int = 0
    warned: int = 0
    lowered: int = 0
    cleared: int = 0

    def add(self, other: ReviewCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _batch_points(session: Session, first_id: str, last_id: str, since: datetime) -> dict[str, int]:
    """Qualifying points of every member with an id in [first_id, last_id], in one aggregate."""
    rows = session.execute(
        select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
        .where(
            LedgerEntry.member_id >= first_id,
            LedgerEntry.member_id <= last_id,
            LedgerEntry.created_at >= since,
            LedgerEntry.kind.in_(QUALIFYING_KINDS),
        )
        .group_by(LedgerEntry.member_id)
    ).all()
    return {member_id: max(int(total or 0), 0) for member_id, total in rows}


def review_batch(
    session: Session, *, after: str, now: datetime, limit: int = BATCH_SIZE
) -> tuple[ReviewCounts, str | None]:
    """Review the next ``limit`` active members with an id after ``after``.

    Returns the counts and the last id reviewed, None when no member was left.
    """
    counts = ReviewCounts()
    tiers = list_tiers(session)
    if not tiers:
        return counts, None  # nothing to review (removing the tiers let every member go)
    members = session.execute(
        select(
            Member.id,
            Member.tier_code,
            Member.tier_grace_until,
            Member.name,
            Member.email,
            Member.phone,
            Member.enrolled_by_merchant_id,
        )
        .where(Member.status == ACTIVE, Member.id > after)
        .order_by(Member.id)
        .limit(limit)
        .with_for_update(key_share=True)
    ).all()
    if not members:
        return counts, None
    counts.reviewed = len(members)
    program = get_program(session)
    points_of = _batch_points(session, members[0].id, members[-1].id, window_start(program, now))
    by_code = {tier.code: tier for tier in tiers}
    grace_until = now + timedelta(days=program.tier_grace_days)
    deadline = grace_until.astimezone(ZoneInfo(program.timezone)).date().isoformat()

    changes: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    tier_events: list[tuple[str, list[str | None], dict[str, Any]]] = []

    def change(member, *, tier_code: str | None, at_risk: bool = False) -> None:
        changes.append(
            {
                "id": member.id,
                "tier_code": tier_code,
                "tier_at_risk_since": now if at_risk else None,
                "tier_grace_until": grace_until if at_risk else None,
            }
        )

    def notify(member, template: str, **data: Any) -> None:
        notices.append(
            {
                "member_id": member.id,
                "email": member.email,
                "phone": member.phone,
                "template": template,
                "data": {"name": member.name or "there", "program": program.name, **data},
            }
        )

    def audit(member, action: str, to: str | None, points: int) -> None:
        data = {"from": member.tier_code, "to": to, "qualifying_points": points, "review_at": isoformat_z(now)}
        events.append({"action": action, "object_type": "member", "object_id": member.id, "data": data})
        tier_events.append(
            webhook_events.tier_change(
                member.id,
                enrolled_by=member.enrolled_by_merchant_id,
                old=member.tier_code,
                new=to,
                direction="up" if action == "member.tier_rise" else "down",
                qualifying_points=points,
                cause="review",
            )
        )

    for member in members:
        points = points_of.get(member.id, 0)
        held = by_code.get(member.tier_code)
        reached = reached_tier(tiers, points)
        if reached is not None and (held is None or reached.rank > held.rank):
            change(member, tier_code=reached.code)
            audit(member, "member.tier_rise", reached.code, points)
            counts.raised += 1
        elif held is None:
            # No tier reached; a code no longer in the list (never left by PUT /tiers) is let go.
            if member.tier_code is not None or member.tier_grace_until is not None:
                change(member, tier_code=None)
        elif points >= held.qualifying_points:
            if member.tier_grace_until is not None:
                change(member, tier_code=held.code)
                counts.cleared += 1
        elif member.tier_grace_until is None:
            change(member, tier_code=held.code, at_risk=True)
            notify(
                member,
                "tier_at_risk",
                tier=held.name,
                points=points,
                required=held.qualifying_points,
                missing=held.qualifying_points - points,
                deadline=deadline,
                window_months=program.qualification_window_months,
            )
            counts.warned += 1
        elif member.tier_grace_until <= now:
            lower = tier_below(tiers, held)
            change(member, tier_code=lower.code if lower else None)
            audit(member, "member.tier_fall", lower.code if lower else None, points)
            facts = {"old_tier": held.name, "points": points, "required": held.qualifying_points}
            if lower is not None:
                notify(member, "tier_lowered", tier=lower.name, **facts)
            else:
                notify(member, "tier_ended", **facts)
            counts.lowered += 1

    if changes:
        # Bulk UPDATE by primary key: one executemany, whatever the number of members.
        session.execute(update(Member), changes)
    if notices:
        queue_notifications(session, notices)
    if events:
        record_events(session, actor=SYSTEM, events=events)
    webhook_events.tiers_changed(session, tier_events)
    return counts, members[-1].id
