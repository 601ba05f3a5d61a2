"""Tiers: the list the operator defines, members' qualifying points, and rising at once.

A member's **qualifying points** are the points they earned (``earn`` and
``claim`` entries) less the points returned (``return`` entries) over the
program's rolling qualification window, never below zero. Spending, expiry and
manual adjustments do not change them. They are summed from the ledger in SQL
(``ix_ledger_entries_member_created``), never kept as a running figure, so the
window rolls by the passing of time alone.

A member **rises at once**: the purchase or claim that takes their qualifying
points to a higher tier's threshold moves them there in the same transaction,
under the member's lock (``apply_tier_rise``). Nothing here lowers a member:
that is the review's (``loyalty.tiers.review``), one tier at a time, after a
grace period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.orm import Session

from loyalty.actors import SYSTEM, Actor
from loyalty.audit.services import record_event
from loyalty.db import add_months, isoformat_z, utcnow
from loyalty.errors import ValidationFailed
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.outbox.services import add_task, task
from loyalty.pagination import Page, decode_cursor, encode_cursor
from loyalty.program.models import Program
from loyalty.program.services import get_program
from loyalty.queue import get_queue
from loyalty.tiers.models import Tier
from loyalty.tiers.validation import check_tiers
from loyalty.webhooks import events as webhook_events

# Entries that count towards qualifying points: points earned, and points returned.
QUALIFYING_KINDS = ("earn", "claim", "return")
REVIEW_JOB = "loyalty.tiers.jobs.review_tiers"


def list_tiers(session: Session) -> list[Tier]:
    """Every tier, lowest rank first."""
    return list(session.scalars(select(Tier).order_by(Tier.rank)))


def list_tiers_page(session: Session, *, limit: int, cursor: str | None) -> Page[Tier]:
    """A page of tiers, lowest rank first (the cursor is after a rank)."""
    query = select(Tier).order_by(Tier.rank)
    if cursor:
        after = decode_cursor(cursor)
        if not after.isdigit():
            raise ValidationFailed(
                "The cursor is not one this service gave out.", errors={"cursor": ["Invalid cursor."]}
            )
        query = query.where(Tier.rank > int(after))
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(str(rows[-1].rank)) if more and rows else None)


def _target_for_vanished(vanished: Tier, remaining: list[dict[str, Any]]) -> str | None:
    """Where the holders of a removed tier go: the highest remaining tier that asks no more of them."""
    fitting = [t for t in remaining if t["qualifying_points"] <= vanished.qualifying_points]
    return max(fitting, key=lambda t: t["rank"])["code"] if fitting else None


def replace_tiers(session: Session, *, tiers: Sequence[Any], actor: Actor) -> list[Tier]:
    """Replace the whole tier list at once (audited with the old and new lists).

    Members holding a tier that is no longer in the list move to the highest
    remaining tier whose qualifying points are at most the removed tier's (so a
    tier renamed at the same threshold keeps its members), or to no tier. A
    review is queued: members who now qualify higher rise, and members now
    short of their tier's new threshold start their grace period.
    """
    new = check_tiers(tiers)
    # One replacement at a time: concurrent lists would otherwise collide on codes and ranks.
    session.execute(select(Program.id).where(Program.id == get_program(session).id).with_for_update())
    old = list_tiers(session)
    old_list = [tier.as_dict() for tier in old]
    if old_list == new:
        return old
    new_codes = {tier["code"] for tier in new}
    session.execute(delete(Tier))
    session.add_all(Tier(**tier) for tier in new)
    session.flush()
    moved: dict[str, dict[str, Any]] = {}
    for vanished in old:
        if vanished.code in new_codes:
            continue
        target = _target_for_vanished(vanished, new)
        result = session.execute(
            update(Member)
            .where(Member.tier_code == vanished.code)
            .values(tier_code=target, tier_at_risk_since=None, tier_grace_until=None)
            .execution_options(synchronize_session="fetch")
        )
        moved[vanished.code] = {"to": target, "members": result.rowcount}
    record_event(
        session,
        actor=actor,
        action="tiers.replace",
        object_type="tiers",
        object_id=None,
        data={"old": old_list, "new": new, "moved": moved},
    )
    add_task(session, start_review)
    return list_tiers(session)


@task(queue="default")
def start_review(session: Session) -> None:
    """Start a tier review now, in a job of its own (it commits batch by batch)."""
    get_queue("default").enqueue(REVIEW_JOB, job_timeout=6 * 3600)


def entry_tier_code(session: Session) -> str | None:
    """The tier a new member holds from enrolment: the lowest, when it needs no points."""
    lowest = session.execute(select(Tier.code, Tier.qualifying_points).order_by(Tier.rank).limit(1)).first()
    return lowest.code if lowest is not None and lowest.qualifying_points == 0 else None


def window_start(program: Program, now: datetime) -> datetime:
    """The start of the rolling qualification window that ends ``now``."""
    return add_months(now, -program.qualification_window_months)


def qualifying_points_by_member(
    session: Session, member_ids: Iterable[str], *, now: datetime | None = None
) -> dict[str, int]:
    """Qualifying points of some members now, in one indexed aggregate (members without any are absent)."""
    ids = list(member_ids)
    if not ids:
        return {}
    since = window_start(get_program(session), now or utcnow())
    rows = session.execute(
        select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
        .where(
            LedgerEntry.member_id.in_(ids),
            LedgerEntry.created_at >= since,
            LedgerEntry.kind.in_(QUALIFYING_KINDS),
        )
        .group_by(LedgerEntry.member_id)
    ).all()
    # PostgreSQL sums BIGINT as NUMERIC: back to int. More returned than earned in the window counts as none.
    return {member_id: max(int(total or 0), 0) for member_id, total in rows}


def qualifying_sum(member_id: Any, since: Any) -> Select:
    """The SELECT of a member's qualifying points (NULL for none) since a moment; either may be a SQL expression."""
    return select(func.sum(LedgerEntry.points)).where(
        LedgerEntry.member_id == member_id,
        LedgerEntry.created_at >= since,
        # One parameter per kind, fixed in the compiled statement: an IN over a list is expanded anew each run.
        LedgerEntry.kind.in_([literal(kind) for kind in QUALIFYING_KINDS]),
    )


def _qualifying_sum(session: Session, member_id: str, now: datetime | None) -> Select:
    return qualifying_sum(member_id, window_start(get_program(session), now or utcnow()))


def qualifying_points(session: Session, member_id: str, *, now: datetime | None = None) -> int:
    """A member's qualifying points now: earned less returned over the rolling window."""
    return max(int(session.scalar(_qualifying_sum(session, member_id, now)) or 0), 0)


def tiers_and_points(session: Session, member_id: str, *, now: datetime | None = None) -> tuple[list[Tier], int]:
    """The tier list and a member's qualifying points, in one statement (the purchase path's).

    The sum rides along with each tier row, so a program without tiers costs
    no aggregate at all.
    """
    rows = session.execute(
        select(Tier, _qualifying_sum(session, member_id, now).scalar_subquery()).order_by(Tier.rank)
    ).all()
    return [tier for tier, _ in rows], (max(int(rows[0][1] or 0), 0) if rows else 0)


def reached_tier(tiers: Sequence[Tier], points: int) -> Tier | None:
    """The highest tier ``points`` qualify for (``tiers`` lowest rank first)."""
    reached = None
    for tier in tiers:
        if tier.qualifying_points <= points:
            reached = tier
    return reached


def tier_above(tiers: Sequence[Tier], held: Tier | None) -> Tier | None:
    """The next tier up from ``held`` (the lowest when none is held)."""
    if held is None:
        return tiers[0] if tiers else None
    return next((tier for tier in tiers if tier.rank > held.rank), None)


def tier_below(tiers: Sequence[Tier], held: Tier) -> Tier | None:
    """The next tier down from ``held``, or None from the lowest."""
    below = [tier for tier in tiers if tier.rank < held.rank]
    return below[-1] if below else None


@dataclass(frozen=True)
class TierStanding:
    """Where a member stands: the tier held (None for none), qualifying points, and what is next."""

    tier: Tier | None
    qualifying_points: int
    next_tier: Tier | None
    at_risk_until: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The member's ``tier`` as the API shows it (plain JSON: receipts are stored as text)."""
        held = self.tier
        to_keep = max(held.qualifying_points - self.qualifying_points, 0) if held is not None else 0
        return {
            "code": held.code if held else None,
            "name": held.name if held else None,
            "progress": {
                "qualifying_points": self.qualifying_points,
                "next_tier": self.next_tier.code if self.next_tier else None,
                "points_to_next": (
                    max(self.next_tier.qualifying_points - self.qualifying_points, 0) if self.next_tier else None
                ),
                "points_to_keep": to_keep,
            },
            "at_risk_until": isoformat_z(self.at_risk_until) if held is not None else None,
        }


def standing_of(tiers: Sequence[Tier], member: Member, points: int) -> TierStanding:
    """A member's standing from the tier list (lowest rank first) and their qualifying points."""
    held = next((tier for tier in tiers if tier.code == member.tier_code), None)
    return TierStanding(
        tier=held,
        qualifying_points=points,
        next_tier=tier_above(tiers, held),
        at_risk_until=member.tier_grace_until,
    )


def standings(
    session: Session, members: Sequence[Member], *, now: datetime | None = None
) -> dict[str, TierStanding | None]:
    """Each member's standing, by id; None for all while the program has no tiers (two queries in all)."""
    tiers = list_tiers(session)
    if not tiers:
        return {member.id: None for member in members}
    points = qualifying_points_by_member(session, [member.id for member in members], now=now)
    return {member.id: standing_of(tiers, member, points.get(member.id, 0)) for member in members}


def standing(session: Session, member: Member, *, now: datetime | None = None) -> TierStanding | None:
    """The member's standing now; None while the program has no tiers."""
    tiers, points = tiers_and_points(session, member.id, now=now)
    return standing_of(tiers, member, points) if tiers else None


def apply_tier_rise(
    session: Session, member: Member, *, now: datetime | None = None, actor: Actor = SYSTEM, purchase: Any = None
) -> TierStanding | None:
    """Raise a locked member at once to the highest tier their qualifying points reach; never lower.

    Called after points are added (a purchase, a claim: ``purchase``), under the
    member's lock. A member short of their tier who qualifies again is no longer
    at risk. Returns the member's standing after it (None without tiers).
    """
    tiers, points = tiers_and_points(session, member.id, now=now)
    if not tiers:
        return None
    held = next((tier for tier in tiers if tier.code == member.tier_code), None)
    reached = reached_tier(tiers, points)
    if reached is not None and (held is None or reached.rank > held.rank):
        record_event(
            session,
            actor=actor,
            action="member.tier_rise",
            object_type="member",
            object_id=member.id,
            data={"from": member.tier_code, "to": reached.code, "qualifying_points": points},
        )
        webhook_events.tiers_changed(
            session,
            [
                webhook_events.tier_change(
                    member.id,
                    enrolled_by=member.enrolled_by_merchant_id,
                    old=member.tier_code,
                    new=reached.code,
                    direction="up",
                    qualifying_points=points,
                    cause="claim" if purchase is not None and purchase.claimed_at else "purchase",
                    merchant_id=purchase.merchant_id if purchase is not None else None,
                    purchase_id=purchase.id if purchase is not None else None,
                )
            ],
        )
        member.tier_code = reached.code
        member.tier_at_risk_since = None
        member.tier_grace_until = None
    elif held is not None and member.tier_grace_until is not None and points >= held.qualifying_points:
        member.tier_at_risk_since = None
        member.tier_grace_until = None
    session.flush()
    return standing_of(tiers, member, points)
