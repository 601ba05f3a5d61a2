"""The analytics run: lifecycle stages, RFM, predicted value, churn and cohorts for every member, set-based.

One run reads the members and their purchases once (two streamed
statements), computes everything in numpy, then writes back: the stages that
changed (a few statements per chunk, each move with its history row, each
chunk committed), every member's figures (one delete and one bulk insert, in
one transaction) and the run's own record (progress, counts, fitted
parameters, timings, the churn and cohort tables). Progress is committed
between the steps, so ``GET /analytics/runs/{id}`` shows it.

Entry points: ``run_analytics`` (the outbox task behind ``POST
/analytics/runs``), ``schedule_nightly_run`` (rq cron: records a run and
queues it), ``execute_run`` (both, and ``flask --app wsgi analytics run``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from loyalty.analytics import cohorts, data, lifecycle, rfm, value_models
from loyalty.analytics.models import LIFECYCLE_STAGES, AnalyticsRun
from loyalty.db import unit_of_work, utcnow
from loyalty.outbox.services import add_task, task
from loyalty.program.services import get_program

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
JOB_TIMEOUT = 3 * 3600
# Members whose stage changed, moved per committed transaction.
STAGE_CHUNK = 5000
# Members' figures turned into Python rows at a time, for the bulk insert.
WRITE_SLICE = 50_000
# The value models are fitted on at most this many buyers (a seeded random sample), then score everyone.
FIT_SAMPLE = 200_000
FIT_SEED = 20050301
EXPECTED_DAYS = 90  # expected_purchases_90d
VALUE_HORIZON_DAYS = 365  # predicted_value_minor: expected value of the next 12 months' purchases
CHURN_MONTHS = 120
CHURN_WEEKS = 104
COHORT_MONTHS = 24

ANALYTICS_COLUMNS = (
    "member_id",
    "computed_at",
    "purchases",
    "first_purchase_at",
    "last_purchase_at",
    "recency_days",
    "median_gap_days",
    "monetary_minor",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "p_alive",
    "expected_purchases_90d",
    "predicted_value_minor",
    "value_band",
)


def epoch_day(moment: datetime) -> int:
    return int(moment.timestamp() // data.SECONDS_PER_DAY)


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _optional(values: np.ndarray, present: np.ndarray) -> list:
    """Plain Python values (for the database driver), None where not ``present``."""
    return [v if k else None for v, k in zip(values.tolist(), present.tolist(), strict=True)]


class _Progress:
    """The run's progress, committed as it goes, and the time each step took."""

    def __init__(self, session: Session, run: AnalyticsRun, report: Callable[[int, str], Any] | None) -> None:
        self.session, self.run, self.report = session, run, report
        self.timings: dict[str, float] = {}
        self._step_started = time.perf_counter()

    def step(self, name: str, percent: int) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._step_started, 3)
        self._step_started = now
        self.at(percent, name)

    def at(self, percent: int, label: str) -> None:
        self.run.progress = max(self.run.progress, min(percent, 100))
        self.session.commit()
        if self.report is not None:
            self.report(self.run.progress, label)


def _fit_values(x, t_x, T, m_x, rng) -> tuple[dict[str, Any], tuple | None]:  # noqa: N803
    """Fit both models on (a sample of) the buyers; the stats to keep and the fitted parameters (or None)."""
    info: dict[str, Any] = {"bgnbd": None, "gamma_gamma": None, "reason": None, "fitted_on": 0}
    n = x.size
    sample = rng.choice(n, size=FIT_SAMPLE, replace=False) if n > FIT_SAMPLE else np.arange(n)
    info["fitted_on"] = int(sample.size)
    try:
        bg = value_models.fit_bgnbd(x[sample], t_x[sample], T[sample])
    except value_models.FitError as error:
        info["reason"] = f"no purchase-frequency model: {error.reason}"
        return info, None
    info["bgnbd"] = bg.as_dict()
    repeat = sample[x[sample] > 0]
    try:
        gg = value_models.fit_gamma_gamma(x[repeat], m_x[repeat])
    except value_models.FitError as error:
        info["reason"] = f"no spend model: {error.reason}"
        return info, (bg, None)
    info["gamma_gamma"] = gg.as_dict()
    if gg.q <= 1:
        info["reason"] = "the spend model's mean is infinite (q <= 1): members without repeat purchases get no value"
    return info, (bg, gg)


def _churn_and_cohorts(
    visits: lifecycle.Visits, enrolled_day: np.ndarray, today: int
) -> tuple[dict[str, list], list[dict]]:
    tables: dict[str, list] = {}
    for name, to_period, label, span in (
        ("month", cohorts.month_of_day, cohorts.month_label, CHURN_MONTHS),
        ("week", cohorts.week_of_day, cohorts.week_label, CHURN_WEEKS),
    ):
        last = int(to_period(np.array([today]))[0])
        first = last - span + 1
        if visits.day.size:
            first = max(first, int(to_period(visits.day).min()))
        # Visits are sorted by member then day, so by member then period too.
        table = cohorts.churn_table(visits.member, to_period(visits.day), first, last, presorted=True)
        # The period that holds today is not over: who "churned" in it is not known yet.
        tables[name] = [
            {"period": label(first + n), **{k: int(v[n]) for k, v in table.items()}, "complete": first + n < last}
            for n in range(last - first + 1)
        ]
    this_month = int(cohorts.month_of_day(np.array([today]))[0])
    enrolled_month = cohorts.month_of_day(enrolled_day) if enrolled_day.size else np.zeros(0, dtype=np.int64)
    first = this_month - COHORT_MONTHS + 1
    if enrolled_month.size:
        first = max(first, int(enrolled_month.min()))
    sizes, active = cohorts.cohort_table(
        visits.member,
        cohorts.month_of_day(visits.day),
        enrolled_month,
        first,
        this_month,
        max_offset=COHORT_MONTHS - 1,
        presorted=True,
    )
    table = [
        {
            "cohort": cohorts.month_label(first + n),
            "members": int(sizes[n]),
            # Months that have not happened yet for this cohort are left out.
            "active": [int(v) for v in active[n, : this_month - (first + n) + 1]],
        }
        for n in range(this_month - first + 1)
    ]
    return tables, table


def execute_run(
    session: Session,
    run: AnalyticsRun,
    *,
    now: datetime | None = None,
    report: Callable[[int, str], Any] | None = None,
) -> AnalyticsRun:
    """Compute and store everything for every member; commits as it goes; the run holds the result."""
    now = now or utcnow()
    today = epoch_day(now)
    run.status, run.started_at, run.progress, run.error, run.finished_at = RUNNING, utcnow(), 0, None, None
    progress = _Progress(session, run, report)
    progress.at(1, "started")
    settings = lifecycle.settings_of(get_program(session).lifecycle_settings)

    # Members and purchases read in one snapshot (the members' order numbers the purchases).
    session.commit()
    data.begin_snapshot(session)
    members = data.read_members(session)
    n = len(members.ids)
    purchases = data.read_purchases(session, members, until=now)
    run.members = n
    progress.step("read", 25)

    visits = lifecycle.Visits.from_purchases(
        purchases.member, purchases.seconds // data.SECONDS_PER_DAY, purchases.amount, n, today=today
    )
    features = lifecycle.member_features(visits, today=today, settings=settings)
    codes = lifecycle.classify(features, today=today, settings=settings)
    progress.step("lifecycle", 35)

    # Stage moves, grouped by (old, new) and written a chunk at a time.
    stage_index = {name: code for code, name in enumerate(LIFECYCLE_STAGES)}
    old = np.array([stage_index.get(stage, -1) for stage in members.stage], dtype=np.int16)
    changed = np.flatnonzero(old != codes)
    moves = 0
    if changed.size:
        pair = old[changed].astype(np.int64) * 16 + codes[changed]
        order = np.argsort(pair, kind="stable")
        changed, pair = changed[order], pair[order]
        done = 0
        for start in range(0, changed.size, STAGE_CHUNK):
            chunk, chunk_pair = changed[start : start + STAGE_CHUNK], pair[start : start + STAGE_CHUNK]
            for key in np.unique(chunk_pair):
                group = chunk[chunk_pair == key]
                ids = [members.ids[i] for i in group]
                before = members.stage[group[0]]  # the same stored stage for the whole group
                moves += data.change_stages(
                    session, ids, old=before, new=LIFECYCLE_STAGES[int(key % 16)], now=now, run_id=run.id
                )
            done += chunk.size
            progress.at(35 + 20 * done // changed.size, "stages")
    progress.step("stages_written", 55)

    # RFM over the members who bought.
    buyers = np.flatnonzero(features.days > 0)
    r_score = np.zeros(n, dtype=np.int8)
    f_score = np.zeros(n, dtype=np.int8)
    m_score = np.zeros(n, dtype=np.int8)
    segment = np.full(n, -1, dtype=np.int8)
    if buyers.size:
        r, f, m = rfm.rfm_scores(features.recency[buyers], features.receipts[buyers], features.spend[buyers])
        r_score[buyers], f_score[buyers], m_score[buyers] = r, f, m
        segment[buyers] = rfm.segment_codes(r, f, m)
    progress.step("rfm", 60)

    # Predicted value: BG/NBD and Gamma-Gamma on purchase days, time in weeks.
    firsts = np.flatnonzero(np.r_[True, visits.member[1:] != visits.member[:-1]]) if visits.member.size else []
    first_spend = np.zeros(n)
    first_spend[visits.member[firsts]] = visits.spend[firsts]
    x = (features.days[buyers] - 1).astype(float)
    t_x = (features.last_day[buyers] - features.first_day[buyers]) / value_models.DAYS_PER_WEEK
    T = (today - features.first_day[buyers]) / value_models.DAYS_PER_WEEK  # noqa: N806
    with np.errstate(divide="ignore", invalid="ignore"):
        m_x = np.where(x > 0, (features.spend[buyers] - first_spend[buyers]) / np.maximum(x, 1), 0.0)
    p_alive = np.full(n, np.nan)
    expected_90 = np.full(n, np.nan)
    value = np.full(n, np.nan)
    if buyers.size:
        info, fitted = _fit_values(x, t_x, T, m_x, np.random.default_rng(FIT_SEED))
    else:
        info, fitted = {"bgnbd": None, "gamma_gamma": None, "reason": "no purchases yet", "fitted_on": 0}, None
    if fitted is not None:
        bg, gg = fitted
        p_alive[buyers] = value_models.p_alive(bg, x, t_x, T)
        expected_90[buyers] = value_models.expected_purchases(bg, EXPECTED_DAYS / 7, x, t_x, T)
        if gg is not None:
            horizon = value_models.expected_purchases(bg, VALUE_HORIZON_DAYS / 7, x, t_x, T)
            value[buyers] = horizon * value_models.expected_spend(gg, x, m_x)
    has_value = np.isfinite(value)
    band = np.zeros(n, dtype=np.int8)
    # A wild extrapolation must not overflow the column: no member is predicted beyond 10^15 minor units.
    value_minor = np.where(has_value, np.rint(np.clip(np.nan_to_num(value), 0, 1e15)), 0).astype(np.int64)
    if has_value.any():
        band[has_value] = rfm.quintiles(value_minor[has_value])
    progress.step("value_models", 70)

    first_seconds = np.full(n, -1, dtype=np.int64)
    last_seconds = np.full(n, -1, dtype=np.int64)
    sold = purchases.amount > 0
    if sold.any():
        first_seconds[:] = np.iinfo(np.int64).max
        np.minimum.at(first_seconds, purchases.member[sold], purchases.seconds[sold])
        np.maximum.at(last_seconds, purchases.member[sold], purchases.seconds[sold])
    bought = features.days > 0
    finite_gap = np.isfinite(features.median_gap)
    finite_alive = np.isfinite(p_alive)
    finite_expected = np.isfinite(expected_90)
    spend = features.spend.astype(np.int64)

    def rows():
        # Python values for the driver, a slice of members at a time (memory stays flat at millions).
        for start in range(0, n, WRITE_SLICE):
            part = slice(start, min(start + WRITE_SLICE, n))
            had = bought[part]
            columns = (
                members.ids[part],
                [now] * (part.stop - part.start),
                features.receipts[part].tolist(),
                [_moment(v) if k else None for v, k in zip(first_seconds[part].tolist(), had.tolist(), strict=True)],
                [_moment(v) if k else None for v, k in zip(last_seconds[part].tolist(), had.tolist(), strict=True)],
                _optional(features.recency[part], had),
                _optional(features.median_gap[part], finite_gap[part]),
                _optional(spend[part], had),
                _optional(r_score[part], had),
                _optional(f_score[part], had),
                _optional(m_score[part], had),
                [rfm.SEGMENTS[code] if code >= 0 else None for code in segment[part].tolist()],
                _optional(p_alive[part], finite_alive[part]),
                _optional(expected_90[part], finite_expected[part]),
                _optional(value_minor[part], has_value[part]),
                _optional(band[part], has_value[part]),
            )
            yield from zip(*columns, strict=True)

    data.replace_member_analytics(session, ANALYTICS_COLUMNS, rows())
    progress.step("analytics_written", 90)

    churn, cohort_rows = _churn_and_cohorts(visits, members.enrolled_day, today)
    progress.step("churn_and_cohorts", 95)

    stage_counts = np.bincount(codes, minlength=len(LIFECYCLE_STAGES)) if n else np.zeros(len(LIFECYCLE_STAGES))
    run.stats = {
        "as_of": now.isoformat(),
        "settings": settings.as_dict(),
        "purchases": int(purchases.member.size),
        "buyers": int(buyers.size),
        "stage_changes": moves,
        "stages": {name: int(stage_counts[code]) for code, name in enumerate(LIFECYCLE_STAGES)},
        "value_model": {**info, "expected_days": EXPECTED_DAYS, "value_horizon_days": VALUE_HORIZON_DAYS},
        "timings": {**progress.timings, "total": round(sum(progress.timings.values()), 3)},
        "churn": churn,
        "cohorts": cohort_rows,
    }
    run.status, run.progress, run.finished_at = DONE, 100, utcnow()
    session.flush()
    if report is not None:
        report(100, "done")
    log.info("analytics run %s: %s members, %s stage changes", run.id, n, moves)
    return run


def record_run(session: Session) -> AnalyticsRun:
    """A new queued run (flushed)."""
    run = AnalyticsRun(status=QUEUED, progress=0, members=0, stats={})
    session.add(run)
    session.flush()
    return run


def record_failure(session: Session, run_id: str, error: BaseException) -> None:
    """Mark a run failed after an error (its transaction rolled back first), committed."""
    session.rollback()
    run = session.get(AnalyticsRun, run_id)
    run.status, run.finished_at = FAILED, utcnow()
    run.error = f"The run stopped on an error ({type(error).__name__}); it is retried, or start another."
    session.commit()
    log.error("analytics run %s failed", run_id, exc_info=error)


@task(queue="default", timeout=JOB_TIMEOUT)
def run_analytics(session: Session, *, run_id: str) -> None:
    """Run a queued analytics run; a failure is recorded on the run (and the job retried); a finished run is left."""
    run = session.get(AnalyticsRun, run_id)
    if run is None or run.status == DONE:
        return
    try:
        execute_run(session, run)
    except Exception as exc:
        record_failure(session, run_id, exc)
        raise


def schedule_nightly_run() -> str:
    """The nightly run (rq cron): record it and queue it through the outbox."""
    with unit_of_work() as session:
        run = record_run(session)
        add_task(session, run_analytics, run_id=run.id)
        return run.id
