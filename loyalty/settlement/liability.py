"""Points liability and breakage: what the outstanding points are worth, and how many will never be spent.

Everything here is set-based SQL over the ledger, grouped by month (of the
program's timezone on PostgreSQL; of UTC on SQLite, which has no timezones):

- outstanding points are what is left of the lots (``lot_remaining``), by the
  merchant they were earned at and by the month they were earned in; their
  value is priced at the program's redemption rate;
- the liability at the end of each month is the running sum of every entry
  (the members' balances then);
- breakage is estimated per earning cohort from the program's own history; see
  ``estimate_breakage`` and docs/settlement.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import add_months, is_postgres, utcnow
from loyalty.ledger.models import LedgerEntry
from loyalty.program.services import get_program
from loyalty.units import floor_div, price_of_points

EARNING = ("earn", "claim")


def month_of(session: Session, column, timezone: str):
    """``YYYY-MM`` of a timestamp column, in the program's timezone where the database knows timezones."""
    if is_postgres(session):
        return func.to_char(func.timezone(timezone, column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _value(points: int, program) -> int:
    return price_of_points(points, program.redemption_value_minor, program.redemption_points)


@dataclass(frozen=True)
class Outstanding:
    key: str | None  # a merchant id (None: points not earned at a merchant), or a month
    points: int
    value_minor: int


def outstanding_by_merchant(session: Session) -> list[Outstanding]:
    """Points not yet spent, returned or expired, by the merchant where they were earned; most first."""
    program = get_program(session)
    rows = session.execute(
        select(LedgerEntry.merchant_id, func.coalesce(func.sum(LedgerEntry.lot_remaining), 0))
        .where(LedgerEntry.lot_remaining > 0)
        .group_by(LedgerEntry.merchant_id)
    ).all()
    items = [Outstanding(merchant_id, int(points), _value(int(points), program)) for merchant_id, points in rows]
    return sorted(items, key=lambda item: -item.points)


def outstanding_by_month(session: Session) -> list[Outstanding]:
    """Points not yet spent, returned or expired, by the month they were earned in; oldest first."""
    program = get_program(session)
    month = month_of(session, LedgerEntry.created_at, program.timezone)
    rows = session.execute(
        select(month, func.coalesce(func.sum(LedgerEntry.lot_remaining), 0))
        .where(LedgerEntry.lot_remaining > 0)
        .group_by(month)
        .order_by(month)
    ).all()
    return [Outstanding(key, int(points), _value(int(points), program)) for key, points in rows]


@dataclass(frozen=True)
class MonthFlow:
    """Points that moved in a month, and the liability (every balance) at its end."""

    month: str
    earned: int  # earn and claim
    redeemed: int  # redeem minus redeem_cancel
    returned: int
    expired: int
    adjusted: int
    liability: int
    liability_minor: int


def monthly_flows(session: Session) -> list[MonthFlow]:
    """Points earned, redeemed, returned, expired and adjusted per month, and the liability after each."""
    program = get_program(session)
    month = month_of(session, LedgerEntry.created_at, program.timezone)
    rows = session.execute(
        select(month, LedgerEntry.kind, func.sum(LedgerEntry.points)).group_by(month, LedgerEntry.kind).order_by(month)
    ).all()
    by_month: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, kind, points in rows:
        by_month[key][kind] += int(points or 0)
    flows, running = [], 0
    for key in sorted(by_month):
        kinds = by_month[key]
        running += sum(kinds.values())
        flows.append(
            MonthFlow(
                month=key,
                earned=kinds["earn"] + kinds["claim"],
                redeemed=-(kinds["redeem"] + kinds["redeem_cancel"]),
                returned=-kinds["return"],
                expired=-kinds["expire"],
                adjusted=kinds["adjust"],
                liability=running,
                liability_minor=_value(running, program),
            )
        )
    return flows


@dataclass(frozen=True)
class Cohort:
    """Points earned in one month and what became of them."""

    month: str
    earned: int
    outstanding: int
    expired: int  # so far
    matured: bool  # every lot of the month is past its expiry date
    expected_breakage: int  # points of ``outstanding`` expected to expire unspent


@dataclass(frozen=True)
class Breakage:
    cohorts: list[Cohort]
    rate_per_mille: int | None  # expired per 1000 points earned in the matured cohorts; None: no history yet
    matured_cohorts: int
    expected_points: int
    expected_minor: int
    outstanding_points: int
    outstanding_minor: int


def _shift(month: str, months: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    moved = add_months(datetime(year, number, 1), months)
    return f"{moved.year:04d}-{moved.month:02d}"


def estimate_breakage(session: Session, *, now: datetime | None = None) -> Breakage:
    """The points expected never to be redeemed, by earning cohort, from the program's own history.

    1. Each ``expire`` entry is assigned to the cohort its points were earned in:
       a lot expires ``expiry_months`` after it became available, so the points an
       expiry run takes in month M were earned in month M - ``expiry_months`` (a
       purchase's ``pending_days`` can move a lot into the next month; the
       cohorts absorb that).
    2. A cohort is *matured* once all its lots are past their expiry date. The
       breakage rate is what matured cohorts lost to expiry over what they earned.
    3. A cohort still open is expected to lose the same share in all:
       ``rate * earned - expired so far``, never below zero nor above what it still
       has outstanding. Without expiry (``expiry_months`` null) points never
       break, and the estimate is zero; without a matured cohort yet, there is no
       history to estimate from, and the estimate is zero too (said as such).
    """
    program = get_program(session)
    now = now or utcnow()
    month = month_of(session, LedgerEntry.created_at, program.timezone)
    earned = dict(
        session.execute(
            select(month, func.sum(LedgerEntry.points)).where(LedgerEntry.kind.in_(EARNING)).group_by(month)
        ).all()
    )
    outstanding = dict(
        session.execute(
            select(month, func.sum(LedgerEntry.lot_remaining))
            .where(LedgerEntry.kind.in_(EARNING), LedgerEntry.lot_remaining > 0)
            .group_by(month)
        ).all()
    )
    expiry_months = program.expiry_months
    expired: dict[str, int] = defaultdict(int)
    if expiry_months:
        for key, points in session.execute(
            select(month, func.sum(LedgerEntry.points)).where(LedgerEntry.kind == "expire").group_by(month)
        ).all():
            expired[_shift(key, -expiry_months)] += -int(points or 0)
    this_month = f"{now.year:04d}-{now.month:02d}"
    months = sorted(set(earned) | set(outstanding))
    # Matured: the cohort's last lot (earned by the month's end, pending at most pending_days) has expired.
    pending_months = -floor_div(-program.pending_days, 28) if program.pending_days else 0

    def matured(key: str) -> bool:
        return bool(expiry_months) and _shift(key, expiry_months + 1 + pending_months) <= this_month

    ripe = [key for key in months if matured(key)]
    earned_ripe = sum(int(earned.get(key) or 0) for key in ripe)
    expired_ripe = sum(expired.get(key, 0) for key in ripe)
    rate = floor_div(1000 * expired_ripe, earned_ripe) if earned_ripe > 0 else None
    cohorts = []
    for key in months:
        got, left, gone = int(earned.get(key) or 0), int(outstanding.get(key) or 0), expired.get(key, 0)
        expected = 0
        if not matured(key) and rate is not None:
            # The matured cohorts' share of this cohort's earnings, in exact integers, less what already expired.
            expected = min(max(floor_div(expired_ripe * got, earned_ripe) - gone, 0), left)
        cohorts.append(Cohort(key, got, left, gone, matured(key), expected))
    expected_points = sum(c.expected_breakage for c in cohorts)
    outstanding_points = sum(c.outstanding for c in cohorts)
    return Breakage(
        cohorts=cohorts,
        rate_per_mille=rate,
        matured_cohorts=len(ripe),
        expected_points=expected_points,
        expected_minor=_value(expected_points, program),
        outstanding_points=outstanding_points,
        outstanding_minor=_value(outstanding_points, program),
    )
