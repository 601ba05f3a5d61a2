"""The points ledger: every change of a member's points, made under the member's lock.

The member row holds the running figures (``points_balance``: the sum of every
entry; ``points_debt``: points taken back beyond what the member held;
``pending_until``); the entries that add points are lots, with what is left of
them. At every moment::

    sum(lot_remaining) - points_debt == points_balance == sum(entry.points)
    pending   = sum(lot_remaining of lots with available_at > now)
    available = points_balance - pending

so pending points become available by the passing of time alone, and
``available + pending`` always equals the sum of the member's activity.
Every function here expects the member locked with ``lock_member`` first: that
lock is what makes concurrent purchases, returns and redemptions of one member
apply one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from loyalty.actors import Actor
from loyalty.db import new_id, row_object, utcnow
from loyalty.errors import InsufficientPoints, MemberNotFound
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member

ADDING = ("earn", "claim", "adjust", "redeem_cancel")
TAKING = ("return", "redeem", "expire", "adjust")


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int

    @classmethod
    def after(cls, member: Member, entry: LedgerEntry) -> Balance:
        """The balance right after ``entry``, without asking the database again."""
        return cls(available=entry.balance_after, pending=member.points_balance - entry.balance_after)

    def as_dict(self) -> dict[str, int]:
        return {"available": self.available, "pending": self.pending}


@dataclass
class EntryContext:
    """Why an entry is written: who, where, for which purchase or redemption."""

    actor: Actor
    merchant_id: str | None = None
    store_id: str | None = None
    purchase_id: str | None = None
    redemption_id: str | None = None
    breakdown: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    rule_set_version: int | None = None


def lock_member(session: Session, member_id: str) -> Member:
    """The member row, locked until the transaction ends (re-read, never from the cache)."""
    member = session.execute(_LOCK_MEMBER, {"member_id": member_id}).scalar_one_or_none()
    if member is None:
        raise MemberNotFound()
    return member


# Built once. FOR NO KEY UPDATE: it does not wait for the key-share locks that inserting rows
# referring to the member takes, so two purchases of one member queue here instead of deadlocking.
_LOCK_MEMBER = (
    select(Member)
    .where(Member.id == bindparam("member_id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


# A member's points not yet available at :pending_at, built once: every purchase and balance reads it.
_PENDING_SUM = (
    select(func.coalesce(func.sum(LedgerEntry.lot_remaining), 0))
    .where(
        LedgerEntry.member_id == bindparam("pending_of"),
        LedgerEntry.lot_remaining > 0,
        LedgerEntry.available_at > bindparam("pending_at"),
    )
    .scalar_subquery()
)
_PENDING_POINTS = select(_PENDING_SUM)


def _has_pending(member: Member, now: datetime) -> bool:
    return member.pending_until is not None and member.pending_until > now


# Built once; the columns to SET come as parameters named for them.
_WRITE_MEMBER = update(Member.__table__).where(Member.__table__.c.id == bindparam("member_key"))


def write_member(session: Session, member: Member) -> None:
    """Write a locked member's changed columns now, in one Core UPDATE, and leave nothing of them to flush.

    The same row the unit of work would write (``updated_at`` too), for a fraction
    of its cost: a purchase changes the member's running figures every time.
    """
    state = inspect(member)
    columns = Member.__table__.c
    changed = {key: getattr(member, key) for key in state.committed_state if key in columns}
    if not changed:
        return
    changed["updated_at"] = utcnow()
    with session.no_autoflush:  # else the unit of work would write the same changes first
        session.execute(_WRITE_MEMBER, {"member_key": member.id, **changed})
    for key, value in changed.items():
        set_committed_value(member, key, value)
    if not state.committed_state:
        # Every change is written: the row is as loaded. The member is still flagged modified, and each
        # later flush would look it over for nothing; clear the flag as a flush does.
        state._commit_all(state.dict, session.identity_map)


def pending_points(session: Session, member: Member, now: datetime | None = None) -> int:
    """Points of the member's lots that are not yet available."""
    now = now or utcnow()
    if not _has_pending(member, now):
        return 0  # the common case needs no query
    # Lots are flushed as they change (add_points, take_points), so nothing the sum reads waits in the
    # session; not flushing here keeps the member's own pending changes for one UPDATE at the end.
    with session.no_autoflush:
        # PostgreSQL sums BIGINT as NUMERIC: back to int.
        return int(session.scalar(_PENDING_POINTS, {"pending_of": member.id, "pending_at": now}))


def balance(session: Session, member: Member, now: datetime | None = None) -> Balance:
    """The member's available and pending points now."""
    pending = pending_points(session, member, now)
    return Balance(available=member.points_balance - pending, pending=pending)


def _entry_values(member: Member, kind: str, points: int, context: EntryContext, **extra) -> dict[str, Any]:
    return {
        "member_id": member.id,
        "kind": kind,
        "points": points,
        "merchant_id": context.merchant_id,
        "store_id": context.store_id,
        "purchase_id": context.purchase_id,
        "redemption_id": context.redemption_id,
        "breakdown": context.breakdown,
        "note": context.note,
        "actor_kind": context.actor.kind,
        "actor_name": context.actor.name,
        "actor_key_id": context.actor.key_id,
        "rule_set_version": context.rule_set_version,
        **extra,
    }


def _entry(member: Member, kind: str, points: int, balance_after: int, context: EntryContext, **extra) -> LedgerEntry:
    return LedgerEntry(**_entry_values(member, kind, points, context, balance_after=balance_after, **extra))


# A lot's insert, built once. ``balance_after`` is the member's balance less the points still pending: the
# lot's own (:own_pending) and, for a member who had some, the earlier lots' summed in the same statement
# (the sum reads the lots as they were before this one), so adding points costs one round trip.
_ENTRIES = LedgerEntry.__table__
_INSERT_LOT = insert(_ENTRIES).returning(_ENTRIES.c.balance_after)
_INSERT_LOT_AFTER_PENDING = _INSERT_LOT.values(
    balance_after=bindparam("balance") - bindparam("own_pending") - _PENDING_SUM
)


def add_points(
    session: Session,
    member: Member,
    *,
    kind: str,
    points: int,
    available_at: datetime,
    expires_at: datetime | None,
    context: EntryContext,
    now: datetime | None = None,
) -> LedgerEntry:
    """Add a lot of points; any debt from earlier returns is paid off first."""
    if kind not in ADDING:
        raise ValueError(f"{kind} does not add points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError("points must be a positive integer")
    now = now or utcnow()
    had_pending = _has_pending(member, now)
    paid = min(member.points_debt, points)
    remaining = points - paid
    member.points_debt -= paid
    member.points_balance += points
    is_pending = available_at > now and remaining > 0
    if is_pending and (member.pending_until is None or member.pending_until < available_at):
        member.pending_until = available_at
    own_pending = remaining if is_pending else 0
    values = _entry_values(
        member,
        kind,
        points,
        context,
        id=new_id("led"),
        created_at=utcnow(),
        available_at=available_at,
        expires_at=expires_at,
        lot_remaining=remaining,
    )
    # A Core insert: the member's own changes stay in the session for one UPDATE at the end.
    with session.no_autoflush:
        if had_pending:
            parameters = values | {
                "balance": member.points_balance,
                "own_pending": own_pending,
                "pending_of": member.id,
                "pending_at": now,
            }
            balance_after = session.execute(_INSERT_LOT_AFTER_PENDING, parameters).scalar_one()
        else:
            balance_after = session.execute(
                _INSERT_LOT, values | {"balance_after": member.points_balance - own_pending}
            ).scalar_one()
    # The entry as written, for its id and balance (not attached to the session: entries never change here).
    return row_object(LedgerEntry, values | {"balance_after": int(balance_after)})


def add_points_to_many(
    session: Session,
    members: list[Member],
    *,
    kind: str,
    points: int,
    expires_at: datetime | None,
    context: EntryContext,
    now: datetime | None = None,
) -> list[LedgerEntry]:
    """``add_points`` of the same points, available now, to many locked members: a batch job's credit.

    The same entries and running figures as one ``add_points`` each, in three
    statements for them all: the pending points of the members that have any
    (one grouped read), the entries (one insert) and the members (one update).
    """
    if kind not in ADDING:
        raise ValueError(f"{kind} does not add points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError("points must be a positive integer")
    now = now or utcnow()
    pending_ids = [m.id for m in members if m.pending_until is not None and m.pending_until > now]
    pending: dict[str, int] = {}
    if pending_ids:
        with session.no_autoflush:
            pending = {
                member_id: int(total)
                for member_id, total in session.execute(
                    select(LedgerEntry.member_id, func.sum(LedgerEntry.lot_remaining))
                    .where(
                        LedgerEntry.member_id.in_(pending_ids),
                        LedgerEntry.lot_remaining > 0,
                        LedgerEntry.available_at > now,
                    )
                    .group_by(LedgerEntry.member_id)
                )
            }
    entries = []
    for member in members:
        paid = min(member.points_debt, points)
        member.points_debt -= paid
        member.points_balance += points
        entries.append(
            _entry(
                member,
                kind,
                points,
                member.points_balance - pending.get(member.id, 0),
                context,
                available_at=now,
                expires_at=expires_at,
                lot_remaining=points - paid,
            )
        )
    session.add_all(entries)
    session.flush()
    return entries


def _open_lots(session: Session, member: Member, *, now: datetime, available_only: bool) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.member_id == member.id, LedgerEntry.lot_remaining > 0)
    if available_only:
        query = query.where(LedgerEntry.available_at <= now)
    # Soonest expiring first (never-expiring last), then oldest.
    query = query.order_by(LedgerEntry.expires_at.is_(None), LedgerEntry.expires_at, LedgerEntry.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Taken:
    entry: LedgerEntry
    from_lots: list[tuple[str, int]]  # (lot id, points) in the order they were taken
    into_debt: int
    earliest_expiry: datetime | None  # of the lots drawn on


def take_points(
    session: Session,
    member: Member,
    *,
    kind: str,
    points: int,
    context: EntryContext,
    first_lot: LedgerEntry | None = None,
    may_go_negative: bool = False,
    now: datetime | None = None,
) -> Taken:
    """Take points from the member's lots, soonest expiring first.

    ``first_lot`` is drawn on before the others, pending or not (a return takes
    its own purchase's points back first). Without ``may_go_negative`` the
    member must have ``points`` available, else ``InsufficientPoints`` and
    nothing changes; with it, what the lots cannot cover becomes debt and the
    available balance goes below zero.
    """
    if kind not in TAKING:
        raise ValueError(f"{kind} does not take points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError("points must be a positive integer")
    now = now or utcnow()
    pending_before = pending_points(session, member, now)
    available = member.points_balance - pending_before
    if not may_go_negative and available < points:
        raise InsufficientPoints(
            f"The member has {max(available, 0)} points available; {points} are needed.",
        )
    lots = _open_lots(session, member, now=now, available_only=True)
    if first_lot is not None:
        lots = [first_lot, *[lot for lot in lots if lot.id != first_lot.id]]
    left = points
    taken: list[tuple[str, int]] = []
    earliest: datetime | None = None
    pending_taken = 0
    for lot in lots:
        if left == 0:
            break
        if not lot.lot_remaining:
            continue
        part = min(left, lot.lot_remaining)
        lot.lot_remaining -= part
        left -= part
        taken.append((lot.id, part))
        if lot.available_at is not None and lot.available_at > now:
            pending_taken += part
        if lot.expires_at is not None and (earliest is None or lot.expires_at < earliest):
            earliest = lot.expires_at
    member.points_debt += left
    member.points_balance -= points
    pending_after = pending_before - pending_taken
    entry = _entry(member, kind, -points, member.points_balance - pending_after, context)
    session.add(entry)
    session.flush()
    return Taken(entry=entry, from_lots=taken, into_debt=left, earliest_expiry=earliest)


def lot_for_purchase(session: Session, purchase_id: str) -> LedgerEntry | None:
    """The lot a purchase's points were added in (its earn or claim entry)."""
    return session.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.purchase_id == purchase_id, LedgerEntry.kind.in_(("earn", "claim")))
        .order_by(LedgerEntry.id)
        .limit(1)
    )


def ledger_sum(session: Session, member_id: str) -> int:
    """The sum of every entry of a member (for checks and reports)."""
    return int(
        session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.member_id == member_id))
    )
