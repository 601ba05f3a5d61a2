"""Points expiry, in set-based SQL, and the warning sent before it.

A lot expires at its ``expires_at`` (``expiry_months`` after it became
available; never when the program's ``expiry_months`` was null when it was
added). A run takes the members with expired lots in batches, in member id
order. For each batch it first locks the members' rows (FOR NO KEY UPDATE, in
id order): every ledger writer locks the member row first, so a purchase,
return or redemption of one of them waits for the batch, then sees its result.
Then, with the same few statements whatever the size of the batch:

1. one ``expire`` entry per member, with the sum of the member's expired lots
   and the available balance after it;
2. that sum off each member's ``points_balance``;
3. ``lot_remaining`` set to 0 on the expired lots.

Only available lots expire: a lot still pending waits until it is available.
``points_debt`` is never touched, so the ledger's invariant
``sum(lot_remaining) - points_debt == points_balance == sum(entry.points)``
holds after the batch as before it (see loyalty.ledger.services).

Warnings: a member with points expiring in the next ``WARNING_DAYS`` days is
told once per expiry date (a date in the program's timezone), remembered in
``expiry_warnings``. One message covers every date not yet warned of, and a
member gets at most one such message per ``WARNING_GAP``: a shopper who buys
every day has lots expiring every day, and one message a day would be spam.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased
from ulid import ULID

from loyalty.actors import Actor
from loyalty.db import UTCDateTime, json_type, utcnow
from loyalty.ledger.models import ExpiryWarning, LedgerEntry
from loyalty.members.models import Member
from loyalty.members.services import ACTIVE
from loyalty.notifications.services import queue_notifications
from loyalty.program.services import get_program

EXPIRY_ACTOR = Actor(kind="system", name="expiry")
EXPIRY_NOTE = "Points past their expiry date"
WARNING_DAYS = 30
WARNING_GAP = timedelta(days=7)
WARNING_TEMPLATE = "points_expiring"
BATCH_SIZE = 1000


@dataclass(frozen=True)
class ExpiryBatch:
    """What one batch expired."""

    members: int
    lots: int
    points: int


@dataclass(frozen=True)
class WarningBatch:
    """What one batch of warnings sent: messages queued and expiry dates covered."""

    members: int
    dates: int
    points: int


def _expired(lot, now: datetime) -> list:
    # Pending lots never expire early: they wait until they are available.
    return [
        lot.lot_remaining > 0,
        lot.expires_at <= now,
        or_(lot.available_at.is_(None), lot.available_at <= now),
    ]


def _lock_members(session: Session, member_ids: list[str]) -> None:
    # FOR NO KEY UPDATE, as lock_member takes it, and in id order so that two runs never deadlock.
    session.execute(
        select(Member.id).where(Member.id.in_(member_ids)).order_by(Member.id).with_for_update(key_share=True)
    ).all()


def next_expiry_batch(session: Session, *, now: datetime, after: str, size: int) -> list[str]:
    """The ids of up to ``size`` members after ``after`` (in id order) with lots expired by ``now``."""
    return list(
        session.scalars(
            select(LedgerEntry.member_id)
            .where(LedgerEntry.member_id > after, *_expired(LedgerEntry, now))
            .group_by(LedgerEntry.member_id)
            .order_by(LedgerEntry.member_id)
            .limit(size)
        )
    )


def _entry_id_prefix() -> str:
    # Entry ids are ULIDs, and the activity lists by id: the batch's time first, so
    # the expire entries sort after everything before them. The rest is made in SQL.
    return f"led_{str(ULID())[:10]}"


def expire_batch(session: Session, member_ids: list[str], *, now: datetime | None = None) -> ExpiryBatch:
    """Expire the lots of these members whose expiry has passed; the same statements for any number of members."""
    now = now or utcnow()
    if not member_ids:
        return ExpiryBatch(0, 0, 0)
    session.flush()
    _lock_members(session, member_ids)
    stats = session.execute(
        select(
            func.count(func.distinct(LedgerEntry.member_id)),
            func.count(),
            func.coalesce(func.sum(LedgerEntry.lot_remaining), 0),
        ).where(LedgerEntry.member_id.in_(member_ids), *_expired(LedgerEntry, now))
    ).one()
    batch = ExpiryBatch(members=int(stats[0]), lots=int(stats[1]), points=int(stats[2]))
    if not batch.lots:
        return batch

    lot = aliased(LedgerEntry, name="lot")
    held = aliased(LedgerEntry, name="held")
    expired_points = (
        select(func.coalesce(func.sum(lot.lot_remaining), 0))
        .where(lot.member_id == Member.id, *_expired(lot, now))
        .scalar_subquery()
    )
    latest_expiry = select(func.max(lot.expires_at)).where(lot.member_id == Member.id, *_expired(lot, now))
    pending_points = (
        select(func.coalesce(func.sum(held.lot_remaining), 0))
        .where(held.member_id == Member.id, held.lot_remaining > 0, held.available_at > now)
        .scalar_subquery()
    )
    has_expired = exists().where(lot.member_id == Member.id, *_expired(lot, now))
    entries = LedgerEntry.__table__
    columns = [
        "id",
        "member_id",
        "kind",
        "points",
        "balance_after",
        "created_at",
        "expires_at",
        "breakdown",
        "note",
        "actor_kind",
        "actor_name",
    ]
    rows = select(
        # The member id's random part makes the id unique within the batch.
        literal(_entry_id_prefix()) + func.substr(Member.id, func.length(Member.id) - 15, 16),
        Member.id,
        literal("expire"),
        -expired_points,
        # The available balance after: the new balance less what is still pending.
        Member.points_balance - expired_points - pending_points,
        literal(now, UTCDateTime()),
        latest_expiry.scalar_subquery(),
        literal([], json_type()),
        literal(EXPIRY_NOTE),
        literal(EXPIRY_ACTOR.kind),
        literal(EXPIRY_ACTOR.name),
    ).where(Member.id.in_(member_ids), has_expired)
    session.execute(entries.insert().from_select(columns, rows))
    session.execute(
        update(Member)
        .where(Member.id.in_(member_ids), has_expired)
        .values(points_balance=Member.points_balance - expired_points)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.member_id.in_(member_ids), *_expired(LedgerEntry, now))
        .values(lot_remaining=0)
        .execution_options(synchronize_session=False)
    )
    # The rows changed behind the session's back: read them again when next used.
    session.expire_all()
    return batch


# ---- warnings ---------------------------------------------------------------------------------


def _expiring(lot, now: datetime) -> list:
    return [lot.lot_remaining > 0, lot.expires_at > now, lot.expires_at <= now + timedelta(days=WARNING_DAYS)]


def next_warning_batch(session: Session, *, now: datetime, after: str, size: int) -> list[str]:
    """The ids of up to ``size`` members after ``after`` with points expiring in the next ``WARNING_DAYS`` days."""
    return list(
        session.scalars(
            select(LedgerEntry.member_id)
            .where(LedgerEntry.member_id > after, *_expiring(LedgerEntry, now))
            .group_by(LedgerEntry.member_id)
            .order_by(LedgerEntry.member_id)
            .limit(size)
        )
    )


def _when(dates: list[date]) -> str:
    first, last = min(dates), max(dates)
    return f"on {first.isoformat()}" if first == last else f"from {first.isoformat()} to {last.isoformat()}"


def warn_batch(session: Session, member_ids: list[str], *, now: datetime | None = None) -> WarningBatch:
    """Queue the expiry warnings these members are due, each expiry date once; a fixed number of statements."""
    now = now or utcnow()
    if not member_ids:
        return WarningBatch(0, 0, 0)
    program = get_program(session)
    zone = ZoneInfo(program.timezone)
    session.flush()
    _lock_members(session, member_ids)
    lots = session.execute(
        select(LedgerEntry.member_id, LedgerEntry.expires_at, LedgerEntry.lot_remaining).where(
            LedgerEntry.member_id.in_(member_ids), *_expiring(LedgerEntry, now)
        )
    ).all()
    earliest_date = (now - timedelta(days=1)).astimezone(zone).date()
    warned_rows = session.execute(
        select(ExpiryWarning.member_id, ExpiryWarning.expires_on, ExpiryWarning.created_at).where(
            ExpiryWarning.member_id.in_(member_ids),
            or_(ExpiryWarning.expires_on >= earliest_date, ExpiryWarning.created_at > now - WARNING_GAP),
        )
    ).all()
    warned = {(row.member_id, row.expires_on) for row in warned_rows}
    recently = {row.member_id for row in warned_rows if row.created_at > now - WARNING_GAP}
    due: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for member_id, expires_at, remaining in lots:
        day = expires_at.astimezone(zone).date()
        if member_id not in recently and (member_id, day) not in warned:
            due[member_id][day] += remaining
    if not due:
        return WarningBatch(0, 0, 0)
    members = session.execute(
        select(Member.id, Member.email, Member.phone, Member.name).where(
            Member.id.in_(list(due)), Member.status == ACTIVE
        )
    ).all()
    messages, warnings = [], []
    for member in sorted(members, key=lambda m: m.id):
        if not (member.email or member.phone):
            continue
        dates = due[member.id]
        points = sum(dates.values())
        messages.append(
            {
                "member_id": member.id,
                "email": member.email,
                "phone": member.phone,
                "template": WARNING_TEMPLATE,
                "data": {
                    "program": program.name,
                    "name": member.name or "there",
                    "points": points,
                    "when": _when(list(dates)),
                },
            }
        )
        warnings.append((member.id, dates))
    notifications = queue_notifications(session, messages)
    rows = [
        ExpiryWarning(
            member_id=member_id,
            expires_on=day,
            points=points,
            notification_id=notification.id if notification else None,
            created_at=now,
        )
        for (member_id, dates), notification in zip(warnings, notifications, strict=True)
        for day, points in dates.items()
    ]
    session.add_all(rows)
    session.flush()
    return WarningBatch(
        members=len(warnings), dates=len(rows), points=sum(sum(dates.values()) for _, dates in warnings)
    )
