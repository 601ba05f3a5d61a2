"""Monthly statements: what a merchant and the operator owe each other for the points of one month.

A statement covers one calendar month of the program's timezone. It counts
every ledger entry of the merchant that was created before the month's end and
that no statement has counted yet (``statement_lines`` holds each entry once,
by its id), so a late return, a correction, or an entry committed just after
a statement was closed falls into the next statement, and no entry is ever
counted twice. A closed statement is never changed.

Reading statements, their lines and their CSV is ``loyalty.settlement.reading``.

A close does not read the merchant's whole history: each statement keeps the
newest entry it counted, and the next close reads from ``LATE_COMMIT`` before
that entry's time on (entry ids sort by the time they were made). An entry
that no statement counted yet was either made after that, or was still
uncommitted when the earlier statement read its entries, which means its
transaction had been open since before then; the service's transactions last
seconds, not ``LATE_COMMIT``.

An entry counts as:

- ``earn``: its breakdown's points of the merchant's own rules are the
  merchant's, the rest the operator's;
- ``claim`` (an anonymous purchase claimed later): the same split of what was
  left of the purchase's points when it was claimed;
- ``return``: minus the share of the purchase's points reversed by it, split in
  the purchase's proportion with the cumulative reversed points, so that a
  purchase returned in parts, across months, gives back exactly what it gave;
- ``redeem`` and ``redeem_cancel`` at the merchant's stores (or of its own
  reward redeemed in the portal): points redeemed, and given back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from ulid import ULID

from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.db import bulk_insert, utcnow
from loyalty.earning.models import Rule
from loyalty.errors import InvalidState
from loyalty.ledger.models import LedgerEntry
from loyalty.merchants.models import Merchant
from loyalty.program.services import get_program
from loyalty.rewards.models import Redemption, Reward
from loyalty.settlement.funding import get_funding, issue_amount, redeem_amount
from loyalty.settlement.models import PrepaidTopUp, Statement, StatementLine
from loyalty.units import floor_div

ISSUING = ("earn", "claim", "return")
REDEEMING = ("redeem", "redeem_cancel")
BATCH = 2000
# How long before the newest entry a statement counted the next close starts reading: far longer than any
# transaction of the service stays open, and than the clocks of its machines drift apart.
LATE_COMMIT = timedelta(days=7)


# ---- periods ---------------------------------------------------------------------------------


def month_start(value: date) -> date:
    return value.replace(day=1)


def next_month(value: date) -> date:
    return date(value.year + value.month // 12, value.month % 12 + 1, 1)


def month_bounds(period_start: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where the month of ``period_start`` begins and ends in the program's timezone."""
    zone = ZoneInfo(timezone)
    starts = datetime.combine(period_start, time(0), tzinfo=zone).astimezone(UTC)
    ends = datetime.combine(next_month(period_start), time(0), tzinfo=zone).astimezone(UTC)
    return starts, ends


def last_closed_month(now: datetime, timezone: str) -> date:
    """The first day of the latest month that has ended in the program's timezone."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    this_month = month_start(local)
    return date(this_month.year - (this_month.month == 1), (this_month.month - 2) % 12 + 1, 1)


# ---- splitting entries by funder ---------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    merchant_points: int
    operator_points: int
    redeemed_points: int


def _own_share(breakdown: list[dict[str, Any]], owners: dict[str, str | None], merchant_id: str) -> tuple[int, int]:
    """``(points of the merchant's own rules, all points)`` of a purchase's breakdown."""
    total = sum(int(line.get("points", 0)) for line in breakdown)
    own = sum(int(line.get("points", 0)) for line in breakdown if owners.get(line.get("rule_id")) == merchant_id)
    return own, total


def reversed_share(own: int, total: int, reversed_before: int, reversed_after: int) -> int:
    """The merchant's part of the points a return reverses: its share of the cumulative reversal, rounded once.

    Taking the difference of cumulative shares makes the parts of a purchase
    returned in several steps add up exactly to its whole share.
    """
    if total <= 0:
        return 0
    return floor_div(reversed_after * own, total) - floor_div(reversed_before * own, total)


# What a close reads of each entry (rows, not ORM objects: a close reads hundreds of thousands).
ENTRY_COLUMNS = (
    LedgerEntry.id,
    LedgerEntry.kind,
    LedgerEntry.points,
    LedgerEntry.created_at,
    LedgerEntry.purchase_id,
    LedgerEntry.redemption_id,
    LedgerEntry.breakdown,
)


def split_entries(session: Session, entries: list[Any], merchant_id: str) -> dict[str, Split]:
    """How each entry's points divide between the merchant, the operator, and redemptions.

    ``entries`` are rows of ``ENTRY_COLUMNS``. An earn or a claim is its
    purchase's lot (a purchase has one); a return is read with its purchase's
    lot and the returns before it.
    """
    returned = {e.purchase_id for e in entries if e.kind == "return" and e.purchase_id}
    history: dict[str, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(returned), 500):
        for entry in session.execute(
            select(*ENTRY_COLUMNS)
            .where(LedgerEntry.purchase_id.in_(chunk), LedgerEntry.kind.in_(ISSUING))
            .order_by(LedgerEntry.id)
        ):
            history[entry.purchase_id].append(entry)
    for entry in entries:
        if entry.kind in ("earn", "claim") and entry.purchase_id and entry.purchase_id not in returned:
            history[entry.purchase_id].append(entry)
    rule_ids = {
        line.get("rule_id")
        for lots in history.values()
        for entry in lots
        if entry.kind in ("earn", "claim")
        for line in entry.breakdown or []
    }
    owners: dict[str, str | None] = {}
    for chunk in _chunks(sorted(r for r in rule_ids if r), 500):
        owners.update(session.execute(select(Rule.id, Rule.merchant_id).where(Rule.id.in_(chunk))).all())

    splits: dict[str, Split] = {}
    for lots in history.values():
        lot = next((e for e in lots if e.kind in ("earn", "claim")), None)
        if lot is None:
            continue
        own, total = _own_share(lot.breakdown or [], owners, merchant_id)
        # Points reversed before the lot was written (returns of an anonymous purchase before its claim).
        reversed_so_far = total - lot.points
        for entry in lots:
            if entry.kind in ("earn", "claim"):
                mine = own - floor_div(reversed_so_far * own, total) if total else 0
                splits[entry.id] = Split(mine, entry.points - mine, 0)
            else:
                taken = -entry.points
                mine = reversed_share(own, total, reversed_so_far, reversed_so_far + taken)
                reversed_so_far += taken
                splits[entry.id] = Split(-mine, entry.points + mine, 0)
    for entry in entries:
        if entry.kind in REDEEMING:
            splits[entry.id] = Split(0, 0, -entry.points)
        elif entry.id not in splits:
            # An issuing entry without its purchase's lot (none is written so): the operator's.
            splits[entry.id] = Split(0, entry.points, 0)
    return splits


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- what a statement counts -----------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """Where a close of a merchant reads from, and the newest entry a statement of the merchant has counted.

    Entries after ``newest`` cannot have been counted; those between ``floor``
    and it are looked up in ``statement_lines``.
    """

    floor: str
    newest: str


def scan_of(session: Session, merchant_id: str) -> Scan:
    """``LATE_COMMIT`` before the newest entry counted so far; everything until a statement counted one."""
    newest = session.scalar(select(func.max(Statement.last_entry_id)).where(Statement.merchant_id == merchant_id))
    if not newest:
        return Scan("", "")
    prefix, _, ulid = newest.rpartition("_")
    made_at = ULID.from_str(ulid).datetime
    floor_ms = max(0, int((made_at - LATE_COMMIT).timestamp() * 1000))
    return Scan(f"{prefix}_{ULID.from_bytes(floor_ms.to_bytes(6, 'big') + bytes(10))}", newest)


def _entries_of(merchant_id: str, ends_at: datetime, *, portal: bool):
    """The ledger entries of a merchant created before ``ends_at``, whether counted already or not.

    Without ``portal``: the entries written at its stores. With it: the
    redemptions of its own rewards made where no till was involved (the portal).
    """
    if portal:
        query = (
            select(*ENTRY_COLUMNS)
            .join(Redemption, Redemption.id == LedgerEntry.redemption_id)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(
                Reward.merchant_id == merchant_id,
                LedgerEntry.merchant_id.is_(None),
                LedgerEntry.redemption_id.is_not(None),
                LedgerEntry.kind.in_(REDEEMING),
            )
        )
    else:
        query = select(*ENTRY_COLUMNS).where(
            LedgerEntry.merchant_id == merchant_id, LedgerEntry.kind.in_((*ISSUING, *REDEEMING))
        )
    return query.where(LedgerEntry.created_at < ends_at).order_by(LedgerEntry.id)


LINE_COLUMNS = (
    "entry_id",
    "statement_id",
    "kind",
    "entry_created_at",
    "purchase_id",
    "redemption_id",
    "merchant_points",
    "operator_points",
    "redeemed_points",
)


def _uncounted(session: Session, entries: list[Any], newest: str) -> list[Any]:
    """The entries no statement has counted: those up to ``newest`` are looked up in ``statement_lines``."""
    maybe = [entry.id for entry in entries if entry.id <= newest]
    counted = set()
    for chunk in _chunks(maybe, 1000):
        counted.update(session.scalars(select(StatementLine.entry_id).where(StatementLine.entry_id.in_(chunk))))
    return [entry for entry in entries if entry.id not in counted]


def _count_entries(
    session: Session, statement: Statement, merchant_id: str, ends_at: datetime, *, scan: Scan, portal: bool
) -> None:
    """Add the merchant's uncounted entries before ``ends_at`` to the statement, in batches."""
    last_id = scan.floor
    while True:
        batch = session.execute(
            _entries_of(merchant_id, ends_at, portal=portal).where(LedgerEntry.id > last_id).limit(BATCH)
        ).all()
        if not batch:
            return
        last_id = batch[-1].id
        batch = _uncounted(session, batch, scan.newest)
        if not batch:
            continue
        splits = split_entries(session, batch, merchant_id)
        rows = []
        for entry in batch:
            split = splits[entry.id]
            statement.merchant_points += split.merchant_points
            statement.operator_points += split.operator_points
            statement.redeemed_points += split.redeemed_points
            rows.append(
                (
                    entry.id,
                    statement.id,
                    entry.kind,
                    entry.created_at,
                    entry.purchase_id,
                    entry.redemption_id,
                    split.merchant_points,
                    split.operator_points,
                    split.redeemed_points,
                )
            )
        bulk_insert(session, StatementLine.__table__, LINE_COLUMNS, rows)
        statement.line_count += len(rows)
        statement.last_entry_id = max(statement.last_entry_id or "", batch[-1].id)


def close_statement(
    session: Session, *, merchant_id: str, period_start: date, actor: Actor, now: datetime | None = None
) -> Statement:
    """Close a merchant's statement for the month of ``period_start`` (once; the same one again after that)."""
    period_start = month_start(period_start)
    existing = session.scalar(
        select(Statement).where(Statement.merchant_id == merchant_id, Statement.period_start == period_start)
    )
    if existing is not None:
        return existing
    program = get_program(session)
    starts_at, ends_at = month_bounds(period_start, program.timezone)
    if ends_at > (now or utcnow()):
        raise InvalidState("A month is settled once it has ended.")
    funding = get_funding(session, merchant_id, actor=actor)
    statement = Statement(
        merchant_id=merchant_id,
        period_start=period_start,
        period_end=next_month(period_start),
        starts_at=starts_at,
        ends_at=ends_at,
        currency=program.currency,
        merchant_points=0,
        operator_points=0,
        redeemed_points=0,
        issue_price_minor=funding.issue_price_minor,
        issue_per_points=funding.issue_per_points,
        redeem_price_minor=funding.redeem_price_minor,
        redeem_per_points=funding.redeem_per_points,
        issued_amount_minor=0,
        redeemed_amount_minor=0,
        prepaid_points=0,
        prepaid_amount_minor=0,
        net_minor=0,
        line_count=0,
    )
    # The (merchant, month) row is claimed first: a second close at the same time fails here.
    session.add(statement)
    session.flush()
    scan = scan_of(session, merchant_id)
    for portal in (False, True):
        _count_entries(session, statement, merchant_id, ends_at, scan=scan, portal=portal)
    top_ups = session.execute(
        update(PrepaidTopUp)
        .where(
            PrepaidTopUp.merchant_id == merchant_id,
            PrepaidTopUp.statement_id.is_(None),
            PrepaidTopUp.created_at < ends_at,
        )
        .values(statement_id=statement.id)
        .returning(PrepaidTopUp.points, PrepaidTopUp.amount_minor)
        .execution_options(synchronize_session=False)
    ).all()
    statement.prepaid_points = sum(int(points) for points, _amount in top_ups)
    statement.prepaid_amount_minor = sum(int(amount) for _points, amount in top_ups)
    statement.issued_amount_minor = issue_amount(statement, statement.merchant_points)
    statement.redeemed_amount_minor = redeem_amount(statement, statement.redeemed_points)
    statement.net_minor = (
        statement.issued_amount_minor - statement.redeemed_amount_minor - statement.prepaid_amount_minor
    )
    statement.closed_at = utcnow()
    session.flush()
    record_event(
        session,
        actor=actor,
        action="statement.close",
        object_type="statement",
        object_id=statement.id,
        merchant_id=merchant_id,
        data={
            "period": period_start.isoformat(),
            "lines": statement.line_count,
            "net_minor": statement.net_minor,
            "currency": statement.currency,
        },
    )
    return statement


def months_due(session: Session, merchant: Merchant, *, timezone: str, now: datetime) -> list[date]:
    """The months of a merchant still to be closed, oldest first, up to the last month that has ended."""
    last = last_closed_month(now, timezone)
    latest = session.scalar(select(func.max(Statement.period_start)).where(Statement.merchant_id == merchant.id))
    if latest is not None:
        first = next_month(latest)
    else:
        first = month_start(merchant.created_at.astimezone(ZoneInfo(timezone)).date())
    months = []
    while first <= last:
        months.append(first)
        first = next_month(first)
    return months
