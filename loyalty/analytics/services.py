"""What marketers read of the member base, and the runs that compute it (admins and marketers only).

The per-member figures and stages are those of the last finished run (the
nightly one, or one started by hand). The churn and cohort tables are kept
with each run; the counts by stage, segment and value band and the flows
between stages are counted when asked, by one aggregate each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.analytics import jobs
from loyalty.analytics.models import LIFECYCLE_STAGES, AnalyticsRun, LifecycleStageChange, MemberAnalytics
from loyalty.analytics.rfm import SEGMENTS
from loyalty.errors import Forbidden, NotFound, ValidationFailed
from loyalty.members.models import Member
from loyalty.members.services import get_member
from loyalty.outbox.services import add_task
from loyalty.pagination import Page, paginate
from loyalty.text import usable_id

READERS = (Role.ADMIN, Role.MARKETER)
PERIODS = ("month", "week")


def _check(actor: Actor) -> None:
    if not (actor.is_admin or actor.role in READERS):
        raise Forbidden("Member analytics are for admins and marketers.")


def start_run(session: Session, *, actor: Actor) -> AnalyticsRun:
    """Record a run and queue it (it runs once this transaction commits); a run already waiting is returned instead."""
    _check(actor)
    waiting = session.scalars(
        select(AnalyticsRun).where(AnalyticsRun.status == jobs.QUEUED).order_by(AnalyticsRun.created_at.desc())
    ).first()
    if waiting is not None:
        return waiting
    run = jobs.record_run(session)
    add_task(session, jobs.run_analytics, run_id=run.id)
    return run


def get_run(session: Session, run_id: str, *, actor: Actor) -> AnalyticsRun:
    """One run, with its progress and, once done, its figures."""
    _check(actor)
    run = session.get(AnalyticsRun, run_id) if usable_id(run_id) else None
    if run is None:
        raise NotFound("No such analytics run.")
    return run


def list_runs(session: Session, *, limit: int, cursor: str | None, actor: Actor) -> Page[AnalyticsRun]:
    """Runs, newest first."""
    _check(actor)
    return paginate(session, select(AnalyticsRun), AnalyticsRun.id, limit=limit, cursor=cursor)


def last_finished_run(session: Session, *, actor: Actor) -> AnalyticsRun | None:
    """The newest run that finished, or None before the first."""
    _check(actor)
    return session.scalars(
        select(AnalyticsRun).where(AnalyticsRun.status == jobs.DONE).order_by(AnalyticsRun.id.desc()).limit(1)
    ).first()


@dataclass
class Flow:
    from_stage: str | None
    to_stage: str
    members: int


def stage_flows(session: Session, *, start: datetime | None, end: datetime | None, actor: Actor) -> list[Flow]:
    """How many moves there were from each stage to each other in ``[start, end)``, most first."""
    _check(actor)
    if start is not None and end is not None and start >= end:
        raise ValidationFailed("The period ends after it starts.", errors={"to": ["Must be after from."]})
    query = select(LifecycleStageChange.from_stage, LifecycleStageChange.to_stage, func.count())
    if start is not None:
        query = query.where(LifecycleStageChange.changed_at >= start)
    if end is not None:
        query = query.where(LifecycleStageChange.changed_at < end)
    rows = session.execute(query.group_by(LifecycleStageChange.from_stage, LifecycleStageChange.to_stage)).all()
    flows = [Flow(from_stage, to_stage, int(count)) for from_stage, to_stage, count in rows]
    return sorted(flows, key=lambda f: (-f.members, f.from_stage or "", f.to_stage))


def overview(session: Session, *, actor: Actor) -> dict[str, Any]:
    """Members by stage, by RFM segment, by value band and by R x FM cell, with their predicted value."""
    _check(actor)
    stages = dict.fromkeys(LIFECYCLE_STAGES, 0)
    for stage, count in session.execute(select(Member.lifecycle_stage, func.count()).group_by(Member.lifecycle_stage)):
        stages[stage] = int(count)
    value = func.coalesce(func.sum(MemberAnalytics.predicted_value_minor), 0)
    segments = dict.fromkeys(SEGMENTS, (0, 0))
    for segment, count, total in session.execute(
        select(MemberAnalytics.rfm_segment, func.count(), value)
        .where(MemberAnalytics.rfm_segment.is_not(None))
        .group_by(MemberAnalytics.rfm_segment)
    ):
        segments[segment] = (int(count), int(total))
    bands = dict.fromkeys(range(1, 6), (0, 0))
    for band, count, total in session.execute(
        select(MemberAnalytics.value_band, func.count(), value)
        .where(MemberAnalytics.value_band.is_not(None))
        .group_by(MemberAnalytics.value_band)
    ):
        bands[int(band)] = (int(count), int(total))
    fm = (MemberAnalytics.f_score + MemberAnalytics.m_score + 1) // 2
    grid = [
        {"r": int(r), "fm": int(cell_fm), "members": int(count)}
        for r, cell_fm, count in session.execute(
            select(MemberAnalytics.r_score, fm, func.count())
            .where(MemberAnalytics.r_score.is_not(None))
            .group_by(MemberAnalytics.r_score, fm)
        )
    ]
    return {
        "stages": [{"stage": name, "members": count} for name, count in stages.items()],
        "segments": [
            {"segment": name, "members": count, "predicted_value_minor": total}
            for name, (count, total) in segments.items()
        ],
        "value_bands": [
            {"band": band, "members": count, "predicted_value_minor": total} for band, (count, total) in bands.items()
        ],
        "grid": sorted(grid, key=lambda cell: (-cell["r"], cell["fm"])),
    }


def _between(items: list[dict], key: str, start: str | None, end: str | None) -> list[dict]:
    return [item for item in items if (start is None or item[key] >= start) and (end is None or item[key] <= end)]


def churn(
    session: Session, *, period: str, start: str | None, end: str | None, actor: Actor
) -> tuple[AnalyticsRun | None, list[dict]]:
    """Active, new, churned and reactivated members per month or week (``start``/``end`` as labels, inclusive)."""
    _check(actor)
    if period not in PERIODS:
        raise ValidationFailed("The period is month or week.", errors={"period": ["month or week."]})
    run = last_finished_run(session, actor=actor)
    if run is None:
        return None, []
    rows = _between(run.stats.get("churn", {}).get(period, []), "period", start, end)
    # The period before's active members, by the identity active = before - churned + new + reactivated.
    # The rate of a period not over yet (``complete`` false) would be a guess: none is given.
    return run, [
        {**row, "churn_rate": round(row["churned"] / before, 4) if before and row["complete"] else None}
        for row in rows
        for before in [row["active"] - row["new"] - row["reactivated"] + row["churned"]]
    ]


def cohort_retention(
    session: Session, *, start: str | None, end: str | None, actor: Actor
) -> tuple[AnalyticsRun | None, list[dict]]:
    """Per enrolment month: its members and the share of them active in each month since."""
    _check(actor)
    run = last_finished_run(session, actor=actor)
    if run is None:
        return None, []
    rows = _between(run.stats.get("cohorts", []), "cohort", start, end)
    return run, [
        {
            "cohort": row["cohort"],
            "members": row["members"],
            "months": [
                {"month": k, "active": active, "share": round(active / row["members"], 4) if row["members"] else None}
                for k, active in enumerate(row["active"])
            ],
        }
        for row in rows
    ]


def member_analytics(session: Session, member_id: str, *, actor: Actor) -> tuple[Member, MemberAnalytics | None]:
    """One member's stage and their figures from the last run (None before their first)."""
    _check(actor)
    if not usable_id(member_id):
        raise NotFound("No such member.")
    member = get_member(session, member_id)
    return member, session.get(MemberAnalytics, member.id)
