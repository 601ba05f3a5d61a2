"""The analytics API: runs started and followed, stages, flows, segments, churn, cohorts, one member's figures."""

from __future__ import annotations

import pytest

from loyalty.db import utcnow
from tests.factories import bearer, make_key
from tests.factories_analytics import DAY, enrolled, history
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store


@pytest.fixture()
def marketer(db_session):
    return bearer(make_key(db_session, "marketer"))


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def base(db_session):
    """A prospect, steady weekly, fortnightly and monthly buyers, a one-time buyer, one last seen over a year ago."""
    now = utcnow()
    store = make_store(db_session, make_merchant(db_session).id)
    names = ("prospect", "weekly", "fortnightly", "monthly", "once", "gone")
    members = {name: make_member(db_session) for name in names}
    for member in members.values():
        enrolled(db_session, member, now - 500 * DAY)
    history(db_session, store, members["weekly"], list(range(1, 300, 7)), now=now, total_minor=2500)
    history(db_session, store, members["fortnightly"], list(range(3, 300, 14)), now=now, total_minor=1500)
    history(db_session, store, members["monthly"], list(range(10, 300, 30)), now=now, total_minor=4000)
    history(db_session, store, members["once"], [4], now=now, total_minor=900)
    history(db_session, store, members["gone"], [400, 430, 470], now=now, total_minor=1200)
    return members


def test_a_marketer_starts_a_run_and_follows_it_to_the_end(client, marketer, base, run_jobs):
    started = client.post("/api/v1/analytics/runs", headers=marketer)
    assert started.status_code == 202, started.json
    assert started.json["status"] == "queued" and started.json["progress"] == 0
    # Asked again before it runs: the same queued run, not a second one.
    assert client.post("/api/v1/analytics/runs", headers=marketer).json["id"] == started.json["id"]

    run_jobs()

    run = client.get(f"/api/v1/analytics/runs/{started.json['id']}", headers=marketer).json
    assert run["status"] == "done" and run["progress"] == 100 and run["members"] == 6
    assert run["stats"]["stages"]["maturity"] == 3 and run["stats"]["stages"]["lost"] == 1
    assert set(run["stats"]["value_model"]["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert "total" in run["stats"]["timings"]
    listed = client.get("/api/v1/analytics/runs?limit=1", headers=marketer).json
    assert [item["id"] for item in listed["items"]] == [run["id"]] and listed["next_cursor"] is None


def test_stage_counts_flows_and_one_members_figures_after_a_run(client, marketer, base, run_jobs):
    client.post("/api/v1/analytics/runs", headers=marketer)
    run_jobs()

    overview = client.get("/api/v1/analytics/segments", headers=marketer).json
    stages = {row["stage"]: row["members"] for row in overview["stages"]}
    assert stages == {
        "prospect": 1,
        "first_purchase": 1,
        "growth": 0,
        "maturity": 3,
        "at_risk": 0,
        "lapsed": 0,
        "lost": 1,
        "won_back": 0,
    }
    assert sum(row["members"] for row in overview["segments"]) == 5
    assert sum(row["members"] for row in overview["grid"]) == 5
    assert sum(row["members"] for row in overview["value_bands"]) == 5
    assert overview["run"]["id"]

    flows = client.get("/api/v1/analytics/lifecycle/flows", headers=marketer).json["flows"]
    assert {(f["from_stage"], f["to_stage"]): f["members"] for f in flows} == {
        ("prospect", "maturity"): 3,
        ("prospect", "first_purchase"): 1,
        ("prospect", "lost"): 1,
    }
    future = client.get("/api/v1/analytics/lifecycle/flows?from=2099-01-01T00:00:00Z", headers=marketer)
    assert future.json["flows"] == []

    weekly = client.get(f"/api/v1/members/{base['weekly'].id}/analytics", headers=marketer).json
    assert weekly["lifecycle_stage"] == "maturity"
    assert weekly["purchases"] == 43 and weekly["median_gap_days"] == 7.0 and weekly["monetary_minor"] == 43 * 2500
    assert weekly["r_score"] == 5 and weekly["f_score"] == 5
    assert 0 < weekly["p_alive"] <= 1 and weekly["expected_purchases_90d"] > 1
    assert weekly["predicted_value_minor"] > 0 and weekly["value_band"] == 5
    prospect = client.get(f"/api/v1/members/{base['prospect'].id}/analytics", headers=marketer).json
    assert prospect["lifecycle_stage"] == "prospect" and prospect["rfm_segment"] is None
    assert prospect["purchases"] == 0


def test_churn_and_cohorts_come_from_the_last_run(client, marketer, base, run_jobs):
    before = client.get("/api/v1/analytics/churn", headers=marketer).json
    assert before == {"run": None, "period": "month", "periods": []}
    client.post("/api/v1/analytics/runs", headers=marketer)
    run_jobs()
    months = client.get("/api/v1/analytics/churn?period=month", headers=marketer).json["periods"]
    this_month = utcnow().strftime("%Y-%m")
    assert months[-1]["period"] == this_month
    # This month is not over: its churn has no rate yet; every month before it is complete.
    assert months[-1]["complete"] is False and months[-1]["churn_rate"] is None
    assert all(row["complete"] for row in months[:-1])
    for row in months:
        assert row["active"] >= row["new"] + row["reactivated"], months
    one = client.get(f"/api/v1/analytics/churn?from={this_month}&to={this_month}", headers=marketer).json
    assert [row["period"] for row in one["periods"]] == [this_month]
    weeks = client.get("/api/v1/analytics/churn?period=week", headers=marketer).json["periods"]
    assert len(weeks) > 40 and len(weeks[-1]["period"]) == 10

    cohorts = client.get("/api/v1/analytics/cohorts", headers=marketer).json["cohorts"]
    enrolment = (utcnow() - 500 * DAY).strftime("%Y-%m")
    assert cohorts[0]["cohort"] == enrolment and cohorts[0]["members"] == 6
    assert all(row["members"] == 0 for row in cohorts[1:])
    assert len(cohorts[0]["months"]) == len(cohorts)  # one column per month since enrolment, this one included
    assert client.get("/api/v1/analytics/cohorts?from=2026-13", headers=marketer).status_code == 422


def test_cohort_shares_are_of_the_cohorts_members(client, db_session, marketer, run_jobs):
    now = utcnow()
    store = make_store(db_session, make_merchant(db_session).id)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    members = [make_member(db_session) for _ in range(4)]
    for member in members:
        enrolled(db_session, member, month_start)
    history(db_session, store, members[0], [0], now=now)
    client.post("/api/v1/analytics/runs", headers=marketer)
    run_jobs()
    cohorts = client.get(f"/api/v1/analytics/cohorts?from={now:%Y-%m}", headers=marketer).json["cohorts"]
    assert cohorts == [{"cohort": f"{now:%Y-%m}", "members": 4, "months": [{"month": 0, "active": 1, "share": 0.25}]}]


def test_lifecycle_thresholds_are_read_and_changed_through_the_program(client, admin, marketer):
    program = client.get("/api/v1/program", headers=admin).json
    assert program["lifecycle_settings"]["at_risk_days"] == 60 and program["name"]
    changed = client.patch("/api/v1/program", json={"lifecycle_settings": {"at_risk_days": 45}}, headers=admin)
    assert changed.status_code == 200, changed.json
    assert changed.json["lifecycle_settings"]["at_risk_days"] == 45
    assert changed.json["lifecycle_settings"]["lapsed_days"] == 120
    reset = client.patch("/api/v1/program", json={"lifecycle_settings": {"at_risk_days": None}}, headers=admin)
    assert reset.json["lifecycle_settings"]["at_risk_days"] == 60
    wrong = client.patch("/api/v1/program", json={"lifecycle_settings": {"lapsed_days": 10}}, headers=admin)
    assert wrong.status_code == 422 and "lifecycle_settings.lapsed_days" in wrong.json["errors"]
    assert client.get("/api/v1/program", headers=admin).json["lifecycle_settings"]["lapsed_days"] == 120
    denied = client.patch("/api/v1/program", json={"lifecycle_settings": {"at_risk_days": 45}}, headers=marketer)
    assert denied.status_code == 403


def test_a_merchant_may_not_read_analytics(client, db_session):
    # Terminals too: the authorization matrix (tests/api/test_authorization.py) calls every operation with each role.
    key = make_key(db_session, "merchant", merchant_id=make_merchant(db_session).id)
    for path in ("/api/v1/analytics/segments", "/api/v1/analytics/runs", "/api/v1/analytics/churn"):
        response = client.get(path, headers=bearer(key))
        assert response.status_code == 403 and response.json["reason"] == "forbidden"
    assert client.post("/api/v1/analytics/runs", headers=bearer(key)).status_code == 403


def test_an_unknown_run_or_member_is_not_found(client, marketer):
    assert client.get("/api/v1/analytics/runs/anr_01UNKNOWN", headers=marketer).status_code == 404
    assert client.get("/api/v1/members/mbr_01UNKNOWN/analytics", headers=marketer).status_code == 404
