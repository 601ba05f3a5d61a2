"""Lifecycle stages: where each member is in their relationship with the program, from their own purchases.

Everything here is pure numpy over arrays of purchase days, one entry per
member and day on which they bought (several receipts on one day are one
visit, their net amounts added). ``member_features`` reduces them to a few
figures per member, grouped without a Python loop; ``classify`` turns the
figures into stages. ``stage_from_history`` does both for one member (tests,
explanations). The thresholds are the program's ``lifecycle_settings``
(``LifecycleSettings``); docs/analytics.md describes the rules.

For each member, at day ``today``:

- no purchase: **prospect**;
- late: days since the last purchase beyond the member's thresholds:
  **lost** > lapsed (**lapsed**) > at risk (**at_risk**). With at least
  ``rhythm_min_purchases`` purchase days the thresholds follow the member's
  own rhythm (multiples of their median gap between purchase days, the gap
  floored at ``min_gap_days``; lost never before ``lost_days``); before that
  they are the program-wide ``at_risk_days``, ``lapsed_days``, ``lost_days``;
- not late, one purchase day: **first_purchase**;
- not late, and came back within ``won_back_days`` after a gap longer than
  the member's lapsed threshold: **won_back**;
- not late, buying more often or more than before: **growth** (visit days
  and spend per day in the recent window against the one before it, each of
  ``growth_window_days`` or ``growth_window_gaps`` median gaps, whichever is
  longer, by more than ``growth_ratio``; a member whose history is all in
  the recent window grows with a second visit);
- otherwise: **maturity**.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from loyalty.analytics.models import LIFECYCLE_STAGES
from loyalty.errors import ValidationFailed

STAGE_CODE = {name: code for code, name in enumerate(LIFECYCLE_STAGES)}
PROSPECT, FIRST_PURCHASE, GROWTH, MATURITY, AT_RISK, LAPSED, LOST, WON_BACK = range(len(LIFECYCLE_STAGES))


@dataclass(frozen=True)
class LifecycleSettings:
    """The thresholds of the stages; ``programs.lifecycle_settings`` overrides any of them."""

    # Purchase days from which a member has a rhythm of their own.
    rhythm_min_purchases: int = 4
    # With a rhythm: at risk after this many median gaps without a purchase, lapsed after, lost after.
    at_risk_multiple: float = 2.0
    lapsed_multiple: float = 4.0
    lost_multiple: float = 8.0
    # A median gap shorter than this counts as this (a daily buyer is not at risk after two days).
    min_gap_days: int = 7
    # Without a rhythm (too few purchases): days without a purchase. ``lost_days`` is also the
    # least time before anyone is lost.
    at_risk_days: int = 60
    lapsed_days: int = 120
    lost_days: int = 365
    # How long a member who came back after lapsing is shown as won back.
    won_back_days: int = 90
    # Growth: the last window against the one before, each at least this many days ...
    growth_window_days: int = 90
    # ... or this many of the member's median gaps, whichever is longer ...
    growth_window_gaps: float = 3.0
    # ... and more purchase days, or more spend, by this ratio.
    growth_ratio: float = 1.25

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_SETTINGS = LifecycleSettings()
_INTEGER = {f.name for f in fields(LifecycleSettings) if f.type in ("int", int)}


def check_settings(raw: Any) -> LifecycleSettings:
    """The settings of a program's ``lifecycle_settings`` (missing keys: defaults); ``ValidationFailed`` if wrong."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationFailed("lifecycle_settings is an object.", errors={"lifecycle_settings": ["Not an object."]})
    known = {f.name for f in fields(LifecycleSettings)}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            errors[key] = ["Unknown setting."]
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors[key] = ["Not a number."]
        elif key in _INTEGER and value != int(value):
            errors[key] = ["A whole number."]
        elif not value > 0 or value > 100_000:
            errors[key] = ["Between 0 (excluded) and 100000."]
        else:
            values[key] = int(value) if key in _INTEGER else float(value)
    if not errors:
        settings = LifecycleSettings(**values)
        if settings.rhythm_min_purchases < 3:
            errors["rhythm_min_purchases"] = ["At least 3 (a median of at least two gaps)."]
        if not settings.at_risk_multiple < settings.lapsed_multiple < settings.lost_multiple:
            errors["lapsed_multiple"] = ["at_risk_multiple < lapsed_multiple < lost_multiple."]
        if not settings.at_risk_days < settings.lapsed_days < settings.lost_days:
            errors["lapsed_days"] = ["at_risk_days < lapsed_days < lost_days."]
        if settings.growth_ratio < 1:
            errors["growth_ratio"] = ["At least 1."]
    if errors:
        raise ValidationFailed(
            "Some lifecycle settings are not valid.", errors={f"lifecycle_settings.{k}": v for k, v in errors.items()}
        )
    return LifecycleSettings(**values)


def settings_of(raw: Any) -> LifecycleSettings:
    """The settings stored for a program, trusting they were checked when saved (defaults if they no longer pass)."""
    try:
        return check_settings(raw)
    except ValidationFailed:
        return DEFAULT_SETTINGS


@dataclass
class Visits:
    """Purchase days sorted by member then day, one row per member and day; ``n_members`` members in all."""

    member: np.ndarray  # int64 member index
    day: np.ndarray  # int64 days since 1970-01-01 (UTC)
    spend: np.ndarray  # int64 net spend that day, minor units
    receipts: np.ndarray  # int64 purchases that day
    n_members: int

    @classmethod
    def from_purchases(
        cls, member: np.ndarray, day: np.ndarray, amount: np.ndarray, n_members: int, *, today: int
    ) -> Visits:
        """Group purchases (any order) into visits; purchases after ``today`` or of no net value are left out."""
        member = np.asarray(member, dtype=np.int64)
        day = np.asarray(day, dtype=np.int64)
        amount = np.asarray(amount, dtype=np.int64)
        keep = (day <= today) & (amount > 0)
        member, day, amount = member[keep], day[keep], amount[keep]
        order = np.lexsort((day, member))
        member, day, amount = member[order], day[order], amount[order]
        if member.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, n_members)
        new = np.ones(member.size, dtype=bool)
        new[1:] = (member[1:] != member[:-1]) | (day[1:] != day[:-1])
        starts = np.flatnonzero(new)
        return cls(
            member=member[starts],
            day=day[starts],
            spend=np.add.reduceat(amount, starts),
            receipts=np.diff(np.append(starts, member.size)).astype(np.int64),
            n_members=n_members,
        )


@dataclass
class Features:
    """Per member: visit days, first and last, median gap, thresholds and the growth windows' figures."""

    days: np.ndarray
    receipts: np.ndarray
    spend: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    recency: np.ndarray
    median_gap: np.ndarray  # NaN with fewer than two visit days
    at_risk_after: np.ndarray
    lapsed_after: np.ndarray
    lost_after: np.ndarray
    comeback_day: np.ndarray  # the last visit after a gap beyond lapsed_after, -1 if none
    recent_days: np.ndarray
    prior_days: np.ndarray
    recent_spend: np.ndarray
    prior_spend: np.ndarray
    window: np.ndarray  # days of each growth window
    prior_span: np.ndarray  # days of the prior window that the member's history covers


def grouped_median(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """The median of ``values`` in each group (NaN for an empty group), by one sort."""
    order = np.lexsort((values, group))
    sorted_values = values[order].astype(float)
    counts = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    median = np.full(n_groups, np.nan)
    has = counts > 0
    low = starts[has] + (counts[has] - 1) // 2
    high = starts[has] + counts[has] // 2
    median[has] = (sorted_values[low] + sorted_values[high]) / 2
    return median


def member_features(visits: Visits, *, today: int, settings: LifecycleSettings = DEFAULT_SETTINGS) -> Features:
    """Every member's figures from their visits, vectorised (a few sorts and bincounts, however many members)."""
    n = visits.n_members
    m = visits.member
    days = np.bincount(m, minlength=n).astype(np.int64)
    receipts = np.bincount(m, weights=visits.receipts, minlength=n).astype(np.int64)
    spend = np.bincount(m, weights=visits.spend, minlength=n)
    same = np.zeros(m.size, dtype=bool)
    same[1:] = m[1:] == m[:-1]
    firsts = np.flatnonzero(~same)
    lasts = np.append(firsts[1:] - 1, m.size - 1) if m.size else firsts
    first_day = np.full(n, -1, dtype=np.int64)
    last_day = np.full(n, -1, dtype=np.int64)
    first_day[m[firsts]] = visits.day[firsts]
    last_day[m[lasts]] = visits.day[lasts]
    recency = np.where(days > 0, today - last_day, -1)

    gap_member = m[same]
    gaps = (visits.day[1:] - visits.day[:-1])[same[1:]] if m.size else np.zeros(0, dtype=np.int64)
    median_gap = grouped_median(gap_member, gaps, n)

    has_rhythm = days >= settings.rhythm_min_purchases
    rhythm = np.fmax(np.nan_to_num(median_gap, nan=0.0), settings.min_gap_days)
    at_risk_after = np.where(has_rhythm, settings.at_risk_multiple * rhythm, settings.at_risk_days)
    lapsed_after = np.where(has_rhythm, settings.lapsed_multiple * rhythm, settings.lapsed_days)
    lost_after = np.where(has_rhythm, np.fmax(settings.lost_multiple * rhythm, settings.lost_days), settings.lost_days)

    # A comeback: a visit after a gap longer than the member's lapsed threshold.
    comeback_day = np.full(n, -1, dtype=np.int64)
    if gaps.size:
        back = gaps > lapsed_after[gap_member]
        visit_after_gap = visits.day[1:][same[1:]]
        np.maximum.at(comeback_day, gap_member[back], visit_after_gap[back])

    window = np.fmax(settings.growth_window_days, settings.growth_window_gaps * np.nan_to_num(median_gap, nan=0.0))
    age = today - visits.day
    w = window[m] if m.size else np.zeros(0)
    recent = age < w
    prior = (age >= w) & (age < 2 * w)
    recent_days = np.bincount(m[recent], minlength=n)
    prior_days = np.bincount(m[prior], minlength=n)
    recent_spend = np.bincount(m[recent], weights=visits.spend[recent], minlength=n)
    prior_spend = np.bincount(m[prior], weights=visits.spend[prior], minlength=n)
    # How much of the prior window the member's history covers: a member who joined during it is
    # compared by rate, and one who joined in the recent window has no prior to compare with.
    prior_span = np.clip(today - window - first_day + 1, 0, window)
    return Features(
        days=days,
        receipts=receipts,
        spend=spend,
        first_day=first_day,
        last_day=last_day,
        recency=recency,
        median_gap=median_gap,
        at_risk_after=at_risk_after,
        lapsed_after=lapsed_after,
        lost_after=lost_after,
        comeback_day=comeback_day,
        recent_days=recent_days,
        prior_days=prior_days,
        recent_spend=recent_spend,
        prior_spend=prior_spend,
        window=window,
        prior_span=prior_span,
    )


def classify(features: Features, *, today: int, settings: LifecycleSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Each member's stage code (an index of ``LIFECYCLE_STAGES``), by the rules in this module's docstring."""
    f = features
    ratio = settings.growth_ratio
    # Rates per day of window, so a prior window only partly lived is compared fairly.
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(f.prior_span > 0, f.window / f.prior_span, 0.0)
    new_buyer = (f.prior_span == 0) & (f.recent_days >= 2)
    more_often = (f.prior_span > 0) & (f.recent_days >= 2) & (f.recent_days > ratio * f.prior_days * scale)
    more_spend = (f.prior_spend > 0) & (f.recent_spend > ratio * f.prior_spend * scale)
    growing = new_buyer | more_often | more_spend
    won_back = (f.comeback_day >= 0) & (today - f.comeback_day < settings.won_back_days)
    conditions = [
        f.days == 0,
        f.recency > f.lost_after,
        f.recency > f.lapsed_after,
        f.recency > f.at_risk_after,
        f.days == 1,
        won_back,
        growing,
    ]
    choices = [PROSPECT, LOST, LAPSED, AT_RISK, FIRST_PURCHASE, WON_BACK, GROWTH]
    return np.select(conditions, choices, default=MATURITY).astype(np.int8)


def stage_from_history(
    days: list[int], *, today: int, spend: list[int] | None = None, settings: LifecycleSettings = DEFAULT_SETTINGS
) -> str:
    """One member's stage from the days they bought on (and what they spent each time, 100 when not given)."""
    amounts = spend if spend is not None else [100] * len(days)
    visits = Visits.from_purchases(np.zeros(len(days)), np.array(days), np.array(amounts), 1, today=today)
    features = member_features(visits, today=today, settings=settings)
    return LIFECYCLE_STAGES[int(classify(features, today=today, settings=settings)[0])]
