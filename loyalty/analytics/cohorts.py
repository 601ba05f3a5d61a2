"""Churn per period and cohort retention by enrolment month, from the periods in which each member bought.

Pure numpy over ``(member, period)`` pairs. A member is **active** in a
period when they bought in it. In each period:

- **new**: active for the first time ever;
- **reactivated**: active, not active in the period before, but active some time before that;
- **churned**: active in the period before, not active in this one;

so that ``active = previous active - churned + new + reactivated``, and the
churn rate is ``churned / previous active``. A cohort is the members enrolled
in one month (prospects included); its retention in month ``k`` after
enrolment is the share of the cohort active in that month.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

EPOCH = date(1970, 1, 1)


def month_of_day(day: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of days since 1970-01-01."""
    months = np.asarray(day, dtype="datetime64[D]").astype("datetime64[M]")
    return months.astype(np.int64)


def week_of_day(day: np.ndarray) -> np.ndarray:
    """Weeks (Monday to Sunday) since the week of 1970-01-01 (a Thursday) of days since 1970-01-01."""
    return (np.asarray(day, dtype=np.int64) + 3) // 7


def month_label(month: int) -> str:
    return f"{1970 + month // 12:04d}-{month % 12 + 1:02d}"


def week_label(week: int) -> str:
    """The Monday a week starts on."""
    return (EPOCH + timedelta(days=int(week) * 7 - 3)).isoformat()


def unique_pairs(member: np.ndarray, period: np.ndarray, *, presorted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(member, period)`` pairs, sorted by member then period (``presorted``: they already are)."""
    member = np.asarray(member, dtype=np.int64)
    period = np.asarray(period, dtype=np.int64)
    if not presorted:
        order = np.lexsort((period, member))
        member, period = member[order], period[order]
    keep = np.ones(member.size, dtype=bool)
    keep[1:] = (member[1:] != member[:-1]) | (period[1:] != period[:-1])
    return member[keep], period[keep]


def churn_table(
    member: np.ndarray, period: np.ndarray, first: int, last: int, *, presorted: bool = False
) -> dict[str, np.ndarray]:
    """Per period ``first..last``: active, new, reactivated, churned, from who bought in which period."""
    member, period = unique_pairs(member, period, presorted=presorted)
    size = last - first + 1
    same_as_previous = np.zeros(member.size, dtype=bool)
    same_as_previous[1:] = member[1:] == member[:-1]
    previous = np.full(member.size, -(10**9), dtype=np.int64)
    previous[1:] = period[:-1]
    previous[~same_as_previous] = -(10**9)
    same_as_next = np.zeros(member.size, dtype=bool)
    same_as_next[:-1] = member[:-1] == member[1:]
    following = np.full(member.size, 10**9, dtype=np.int64)
    following[:-1] = period[1:]
    following[~same_as_next] = 10**9

    def count(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
        at = at[mask] - first
        inside = (at >= 0) & (at < size)
        return np.bincount(at[inside], minlength=size)[:size]

    everything = np.ones(member.size, dtype=bool)
    new = ~same_as_previous
    reactivated = same_as_previous & (previous < period - 1)
    # A member active now and not in the next period churns in the next period.
    churned = following > period + 1
    return {
        "active": count(everything, period),
        "new": count(new, period),
        "reactivated": count(reactivated, period),
        "churned": count(churned, period + 1),
    }


def cohort_table(
    member: np.ndarray,
    period: np.ndarray,
    cohort_of_member: np.ndarray,
    first: int,
    last: int,
    *,
    max_offset: int,
    presorted: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cohorts ``first..last`` (enrolment months): their sizes, and ``[cohort, k]`` members active ``k`` months on."""
    member, period = unique_pairs(member, period, presorted=presorted)
    cohort_of_member = np.asarray(cohort_of_member, dtype=np.int64)
    n_cohorts = last - first + 1
    in_range = (cohort_of_member >= first) & (cohort_of_member <= last)
    sizes = np.bincount(cohort_of_member[in_range] - first, minlength=n_cohorts)[:n_cohorts]
    cohort = cohort_of_member[member] if member.size else np.zeros(0, dtype=np.int64)
    offset = period - cohort
    keep = (cohort >= first) & (cohort <= last) & (offset >= 0) & (offset <= max_offset)
    cells = (cohort[keep] - first) * (max_offset + 1) + offset[keep]
    active = np.bincount(cells, minlength=n_cohorts * (max_offset + 1))[: n_cohorts * (max_offset + 1)]
    return sizes, active.reshape(n_cohorts, max_offset + 1)
