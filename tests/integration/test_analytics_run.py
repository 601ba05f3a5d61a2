"""The analytics run on the real database: stages with their history, RFM and value figures, set-based."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from loyalty.analytics.jobs import execute_run, record_run
from loyalty.analytics.models import AnalyticsRun, LifecycleStageChange, MemberAnalytics
from loyalty.members.models import Member
from tests.factories_analytics import DAY, enrolled, history
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture()
def store(db_session):
    merchant = make_merchant(db_session)
    return make_store(db_session, merchant.id)


def run_now(session, now=NOW) -> AnalyticsRun:
    run = record_run(session)
    session.commit()
    return execute_run(session, run, now=now)


def stage(session, member) -> str:
    return session.scalar(select(Member.lifecycle_stage).where(Member.id == member.id))


def changes(session, member) -> list[tuple[str | None, str]]:
    rows = session.execute(
        select(LifecycleStageChange.from_stage, LifecycleStageChange.to_stage)
        .where(LifecycleStageChange.member_id == member.id)
        .order_by(LifecycleStageChange.id)
    )
    return [tuple(row) for row in rows]


def test_the_run_writes_each_members_stage_and_a_history_row_only_when_it_changes(db_session, store):
    prospect = make_member(db_session)
    newcomer = make_member(db_session)
    weekly = make_member(db_session)
    gone = make_member(db_session)
    history(db_session, store, newcomer, [3], now=NOW)
    history(db_session, store, weekly, list(range(2, 200, 7)), now=NOW)
    history(db_session, store, gone, [400, 420], now=NOW)

    run = run_now(db_session)

    assert run.status == "done" and run.progress == 100 and run.members == 4
    assert [stage(db_session, m) for m in (prospect, newcomer, weekly, gone)] == [
        "prospect",
        "first_purchase",
        "maturity",
        "lost",
    ]
    assert changes(db_session, prospect) == []
    assert changes(db_session, newcomer) == [("prospect", "first_purchase")]
    assert changes(db_session, gone) == [("prospect", "lost")]
    assert run.stats["stage_changes"] == 3

    # The same day again: nothing moves, nothing is added to the history.
    again = run_now(db_session)
    assert again.stats["stage_changes"] == 0
    assert db_session.scalar(select(func.count()).select_from(LifecycleStageChange)) == 3

    # Three weeks without a purchase: the weekly buyer is late against their own rhythm.
    later = run_now(db_session, NOW + 21 * DAY)
    assert stage(db_session, weekly) == "at_risk"
    assert changes(db_session, weekly) == [("prospect", "maturity"), ("maturity", "at_risk")]
    assert later.stats["stages"]["at_risk"] == 1


def test_a_member_who_comes_back_after_lapsing_is_won_back(db_session, store):
    member = make_member(db_session)
    history(db_session, store, member, [400, 390, 380, 370], now=NOW)
    run_now(db_session)
    assert stage(db_session, member) == "lost"
    history(db_session, store, member, [0], now=NOW)
    run_now(db_session)
    assert stage(db_session, member) == "won_back"
    assert changes(db_session, member)[-1] == ("lost", "won_back")


def test_fully_returned_purchases_do_not_count_and_partial_returns_are_netted(db_session, store):
    member = make_member(db_session)
    history(db_session, store, member, [5], now=NOW, total_minor=1000, returned_minor=1000)
    history(db_session, store, member, [2], now=NOW, total_minor=1000, returned_minor=250)
    run_now(db_session)
    figures = db_session.get(MemberAnalytics, member.id)
    assert figures.purchases == 1
    assert figures.monetary_minor == 750
    assert stage(db_session, member) == "first_purchase"


def test_every_member_gets_rfm_scores_and_predicted_value(db_session, store):
    buyers = []
    for n in range(12):
        member = make_member(db_session)
        enrolled(db_session, member, NOW - 400 * DAY)
        # Member n buys n + 1 times, every 20 days, the last time n days ago, for 100 x (n + 1) each.
        history(db_session, store, member, [n + 20 * k for k in range(n + 1)], now=NOW, total_minor=100 * (n + 1))
        buyers.append(member)
    prospect = make_member(db_session)

    run = run_now(db_session)

    rows = {row.member_id: row for row in db_session.scalars(select(MemberAnalytics))}
    assert rows[prospect.id].purchases == 0
    assert rows[prospect.id].rfm_segment is None and rows[prospect.id].predicted_value_minor is None
    best, worst = rows[buyers[-1].id], rows[buyers[0].id]
    assert (best.f_score, best.m_score) == (5, 5)
    assert (worst.r_score, worst.f_score, worst.m_score) == (5, 1, 1)
    assert worst.rfm_segment == "new"
    assert run.stats["value_model"]["bgnbd"] is not None
    for row in (best, worst):
        assert 0 <= row.p_alive <= 1
        assert row.expected_purchases_90d >= 0
        assert isinstance(row.predicted_value_minor, int)
        assert 1 <= row.value_band <= 5
    assert best.predicted_value_minor > worst.predicted_value_minor
    assert best.value_band == 5
    assert best.first_purchase_at == NOW - 231 * DAY and best.last_purchase_at == NOW - 11 * DAY


def test_without_repeat_buyers_there_is_no_value_model_and_the_run_says_why(db_session, store):
    for ago in (3, 10, 40):
        history(db_session, store, make_member(db_session), [ago], now=NOW)
    run = run_now(db_session)
    assert run.status == "done"
    assert run.stats["value_model"]["bgnbd"] is None
    assert "one-time buyer" in run.stats["value_model"]["reason"]
    assert db_session.scalar(select(func.count()).where(MemberAnalytics.predicted_value_minor.is_not(None))) == 0
    assert db_session.scalar(select(func.count()).where(MemberAnalytics.rfm_segment.is_not(None))) == 3


def test_a_run_with_no_member_at_all_finishes(db_session):
    run = run_now(db_session)
    assert run.status == "done" and run.members == 0
    assert run.stats["value_model"]["reason"] == "no purchases yet"


def test_the_run_reads_and_writes_in_a_number_of_statements_that_does_not_grow_with_members(db_session, engine, store):
    def statements(members: int) -> int:
        for _ in range(members):
            member = make_member(db_session)
            history(db_session, store, member, [5, 30, 60], now=NOW)
        count = 0

        def counting(*_args, **_kwargs):
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", counting)
        try:
            run_now(db_session)
        finally:
            event.remove(engine, "before_cursor_execute", counting)
        return count

    few = statements(3)
    many = statements(40)  # 43 members now, all moving stage the first time they are seen
    assert many <= few + 2, (few, many)


def test_churn_and_cohort_tables_are_kept_with_the_run(db_session, store):
    early, late = make_member(db_session), make_member(db_session)
    enrolled(db_session, early, datetime(2026, 9, 3, tzinfo=UTC))
    enrolled(db_session, late, datetime(2026, 10, 3, tzinfo=UTC))
    history(db_session, store, early, [(NOW - datetime(2026, 9, 10, 12, tzinfo=UTC)).days], now=NOW)
    history(db_session, store, early, [(NOW - datetime(2026, 11, 10, 12, tzinfo=UTC)).days], now=NOW)
    history(db_session, store, late, [(NOW - datetime(2026, 10, 10, 12, tzinfo=UTC)).days], now=NOW)
    run = run_now(db_session)
    months = {row["period"]: row for row in run.stats["churn"]["month"]}
    assert months["2026-09"] == {
        "period": "2026-09",
        "active": 1,
        "new": 1,
        "reactivated": 0,
        "churned": 0,
        "complete": True,
    }
    assert months["2026-10"] == {
        "period": "2026-10",
        "active": 1,
        "new": 1,
        "reactivated": 0,
        "churned": 1,
        "complete": True,
    }
    # November holds the run's day: it is not over, so its churn is so far only.
    assert months["2026-11"] == {
        "period": "2026-11",
        "active": 1,
        "new": 0,
        "reactivated": 1,
        "churned": 1,
        "complete": False,
    }
    assert max(months) == "2026-11"
    cohorts = {row["cohort"]: row for row in run.stats["cohorts"]}
    assert cohorts["2026-09"] == {"cohort": "2026-09", "members": 1, "active": [1, 0, 1]}
    assert cohorts["2026-10"] == {"cohort": "2026-10", "members": 1, "active": [1, 0]}


def test_the_command_runs_the_analytics_with_a_progress_bar_and_prints_the_figures(app, db_session, store):
    member = make_member(db_session)
    history(db_session, store, member, [3], now=datetime.now(UTC))
    result = app.test_cli_runner().invoke(args=["analytics", "run"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Analytics")  # the progress bar's label (the bar is drawn on a terminal only)
    assert "1 members, 1 purchases, 1 buyers, 1 stage changes" in result.stdout
    assert "first_purchase 1" in result.stdout
    assert "Value model: no purchase-frequency model: fewer than two members with a history" in result.stdout
    assert stage(db_session, member) == "first_purchase"


def test_the_nightly_schedule_records_a_run_and_queues_it_through_the_outbox(db_session, run_jobs):
    from loyalty.analytics.jobs import schedule_nightly_run
    from loyalty.schedules import SCHEDULE, TIMEOUTS

    assert schedule_nightly_run in [func for func, _queue, _when in SCHEDULE] and schedule_nightly_run in TIMEOUTS
    run_id = schedule_nightly_run()
    assert db_session.get(AnalyticsRun, run_id).status == "queued"
    run_jobs()
    db_session.expire_all()
    assert db_session.get(AnalyticsRun, run_id).status == "done"


def test_a_run_that_stops_on_an_error_is_marked_failed_and_changes_no_stage(db_session, store, monkeypatch):
    from loyalty.analytics import jobs, lifecycle

    member = make_member(db_session)
    history(db_session, store, member, [3], now=NOW)
    run = record_run(db_session)
    db_session.commit()

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a fault in the middle of the run")

    monkeypatch.setattr(lifecycle, "classify", broken)
    with pytest.raises(ZeroDivisionError):
        jobs.run_analytics(db_session, run_id=run.id)
    db_session.expire_all()
    failed = db_session.get(AnalyticsRun, run.id)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert stage(db_session, member) == "prospect"
