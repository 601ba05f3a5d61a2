"""POST /rules/simulate and GET /rules/simulations/{id}: a draft rule scored over stored purchases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalty.earning import simulation
from loyalty.earning.models import Rule, RuleSimulation
from loyalty.purchases import queries as purchase_queries
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy

NOVEMBER = {"from": "2026-11-01T00:00:00+00:00", "to": "2026-12-01T00:00:00+00:00"}
WEEKEND_COFFEE = {
    "name": "Weekend coffee double",
    "priority": 100,
    "condition": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
    "effect": {"type": "multiplier", "percent": 200},
}


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 12, 0, tzinfo=UTC)


def coffee(total_minor: int) -> list[dict]:
    return [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": total_minor}]


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def shops(client, db_session, admin):
    """Two merchants, two members, and purchases in and around November 2026 under one active base rule."""
    base = client.post(
        "/api/v1/rules",
        json={"name": "One point per euro", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        headers=admin,
    ).json
    assert client.post(f"/api/v1/rules/{base['id']}/activate", headers=admin).status_code == 200
    first, second = make_merchant(db_session), make_merchant(db_session)
    here, there = make_store(db_session, first.id), make_store(db_session, second.id)
    ana, bo = make_member(db_session), make_member(db_session)
    sales = [
        (here, ana, at(20, 10), 4000),  # October: before the period
        (here, ana, at(7), 1000),  # Saturday
        (here, ana, at(8), 2000),  # Sunday
        (here, bo, at(9), 3000),  # Monday
        (there, bo, at(14), 1500),  # Saturday, the other merchant
        (here, None, at(14), 500),  # Saturday, without a card
        (here, ana, at(5, 12), 9900),  # December: after the period
    ]
    for store, member, occurred_at, total in sales:
        buy(db_session, store, member=member, occurred_at=occurred_at, total_minor=total, items=coffee(total))
    return {"first": first.id, "second": second.id, "ana": ana.id, "bo": bo.id, "base": base["id"]}


def simulate(client, headers, rule, period=NOVEMBER):
    return client.post("/api/v1/rules/simulate", json={"rule": rule, **period}, headers=headers)


def figures(body) -> tuple[int, int, int]:
    return body["purchases_matched"], body["members_affected"], body["points"]


def test_a_small_period_answers_at_once_with_what_the_draft_would_have_given(client, db_session, admin, shops):
    response = simulate(client, admin, WEEKEND_COFFEE)

    assert response.status_code == 200, response.json
    body = response.json
    # Four weekend coffees in November: 10 + 20 + 15 + 5 base points, doubled.
    assert figures(body) == (4, 2, 50)
    assert body["status"] == "done" and body["id"] is None
    assert body["progress"] == {"done": 5, "total": 5}
    assert body["from"] == "2026-11-01T00:00:00.000Z" and body["to"] == "2026-12-01T00:00:00.000Z"
    # Nothing is saved: no rule, no simulation.
    assert db_session.scalar(select(func.count()).select_from(Rule)) == 1
    assert db_session.scalar(select(func.count()).select_from(RuleSimulation)) == 0


@pytest.mark.parametrize(
    "rule, expected",
    [
        # Limits are replayed over the period: once a month per member; a sale without a card counts for nobody.
        (
            {
                "name": "Monthly visit",
                "effect": {"type": "bonus", "points": 100},
                "limits": {"per_member": {"times": 1, "period": "month"}},
            },
            (3, 2, 300),
        ),
        # A budget is spent in the order the purchases happened and never overspent.
        ({"name": "Launch", "effect": {"type": "bonus", "points": 100}, "limits": {"budget_points": 250}}, (2, 1, 200)),
        # An exclusive rule that ends the walk costs what it takes away: 5 instead of 10+20+30+15+5 base points.
        (
            {"name": "Flat five", "priority": 10, "stacking": "exclusive", "effect": {"type": "bonus", "points": 5}},
            (5, 2, 25 - 80),
        ),
        # A base rule is multiplied by nothing here, and a multiplier alone on no base gives nothing.
        ({"name": "Two per euro", "effect": {"type": "per_amount", "points": 2, "per_minor": 100}}, (5, 2, 160)),
        # The window of the rule narrows the period: only the second week of November.
        (
            {
                "name": "Week",
                "starts_at": "2026-11-09T00:00:00Z",
                "ends_at": "2026-11-16T00:00:00Z",
                "effect": {"type": "bonus", "points": 1},
            },
            (3, 1, 3),
        ),
    ],
    ids=["per-member-limit", "budget", "exclusive", "base-rate", "window"],
)
def test_limits_budgets_exclusivity_and_windows_are_replayed(client, admin, shops, rule, expected):
    response = simulate(client, admin, rule)
    assert response.status_code == 200, response.json
    assert figures(response.json) == expected


def test_member_facts_are_as_they_were_when_each_purchase_happened(client, admin, shops):
    # Ana bought in October, so none of her November purchases is her first; Bo's of the 9th is his.
    first = {
        "name": "First purchase",
        "condition": 'member.purchase_count == 0 and member.lifecycle_stage != "anonymous"',
        "effect": {"type": "bonus", "points": 50},
    }
    assert figures(simulate(client, admin, first).json) == (1, 1, 50)
    # Days since the member's previous purchase, from the stored purchases: Ana's of the 8th follows the 7th.
    again = {
        "name": "Back next day",
        "condition": "member.days_since_last_purchase == 1",
        "effect": {"type": "bonus", "points": 7},
    }
    assert figures(simulate(client, admin, again).json) == (1, 1, 7)


def test_a_merchant_simulates_its_own_rules_over_its_own_purchases(client, db_session, admin, shops):
    merchant = bearer(make_key(db_session, "merchant", merchant_id=shops["first"]))
    own = simulate(client, merchant, WEEKEND_COFFEE)
    assert own.status_code == 200, own.json
    assert figures(own.json) == (3, 1, 35)  # the other merchant's Saturday sale is not in its scope

    operator_wide = simulate(client, merchant, WEEKEND_COFFEE | {"merchant_id": None})
    assert operator_wide.status_code == 403
    others = simulate(client, merchant, WEEKEND_COFFEE | {"merchant_id": shops["second"]})
    assert others.status_code == 422 and others.json["reason"] == "invalid_rule"
    # The operator may simulate a rule for one merchant: only that merchant's purchases count.
    for_second = simulate(client, admin, WEEKEND_COFFEE | {"merchant_id": shops["second"]})
    assert figures(for_second.json) == (1, 1, 15)


@pytest.mark.parametrize(
    "change, reason, field",
    [
        ({"rule": WEEKEND_COFFEE | {"condition": "purchase.totl > 1"}}, "invalid_rule", "condition"),
        (
            {"rule": WEEKEND_COFFEE | {"effect": {"type": "multiplier", "percent": 90}}},
            "invalid_rule",
            "effect.percent",
        ),
        ({"from": "2026-12-01T00:00:00Z"}, "validation_error", "to"),
        ({"to": None}, "validation_error", "to"),
    ],
    ids=["unknown-fact", "bad-effect", "empty-period", "no-end"],
)
def test_an_invalid_draft_or_period_is_422_and_nothing_runs(client, db_session, admin, change, reason, field):
    body = {"rule": WEEKEND_COFFEE, **NOVEMBER} | change
    response = client.post("/api/v1/rules/simulate", json=body, headers=admin)
    assert response.status_code == 422, response.json
    assert response.json["reason"] == reason
    errors = response.json["errors"]
    assert errors.get("field") == field or field in errors
    assert db_session.scalar(select(func.count()).select_from(RuleSimulation)) == 0


def test_the_invalid_rule_error_suggests_the_fact_meant(client, admin):
    response = simulate(client, admin, WEEKEND_COFFEE | {"condition": "purchase.totl > 1"})
    assert response.json["errors"]["suggestion"] == "purchase.total_minor"


def test_a_terminal_key_does_not_simulate(client, db_session):
    from tests.factories_merchants import make_terminal

    store = make_store(db_session, make_merchant(db_session, require_signed_requests=False).id)
    _terminal, key, _secret = make_terminal(db_session, store.id)
    response = simulate(client, bearer(key), WEEKEND_COFFEE)
    assert response.status_code == 403 and response.json["reason"] == "forbidden"


def test_a_large_period_runs_in_the_background_with_progress(
    client, db_session, admin, shops, app, run_jobs, monkeypatch
):
    run_jobs()  # the members' welcome messages
    monkeypatch.setitem(app.config, "SIMULATION_SYNC_LIMIT", 2)
    monkeypatch.setattr(simulation, "CHUNK", 2)
    response = simulate(client, admin, WEEKEND_COFFEE)

    assert response.status_code == 202, response.json
    queued = response.json
    assert queued["status"] == "queued" and queued["progress"] == {"done": 0, "total": 5}
    assert queued["purchases_matched"] is None and queued["points"] is None
    assert response.headers["Location"].endswith(f"/api/v1/rules/simulations/{queued['id']}")
    read = client.get(f"/api/v1/rules/simulations/{queued['id']}", headers=admin)
    assert read.status_code == 200 and read.json == queued

    # The progress each chunk of the run has committed, as the job reads its next chunk.
    seen = []
    reading = purchase_queries.iter_baskets

    def watched(session, **kwargs):
        seen.append(session.scalar(select(RuleSimulation.done).where(RuleSimulation.id == queued["id"])))
        return reading(session, **kwargs)

    monkeypatch.setattr(simulation, "iter_baskets", watched)
    assert run_jobs() == 1

    assert seen == [0, 2, 4]
    done = client.get(f"/api/v1/rules/simulations/{queued['id']}", headers=admin).json
    assert done["status"] == "done" and done["progress"] == {"done": 5, "total": 5}
    # The same figures as a simulation answered at once.
    assert figures(done) == (4, 2, 50)
    assert done["finished_at"] is not None and done["error"] is None


def test_a_merchant_reads_only_its_own_merchants_simulations(client, db_session, admin, shops, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIMULATION_SYNC_LIMIT", 0)
    operator = simulate(client, admin, WEEKEND_COFFEE).json
    theirs = simulate(client, admin, WEEKEND_COFFEE | {"merchant_id": shops["second"]}).json
    merchant = bearer(make_key(db_session, "merchant", merchant_id=shops["first"]))
    own = simulate(client, merchant, WEEKEND_COFFEE).json

    def read(simulation_id):
        return client.get(f"/api/v1/rules/simulations/{simulation_id}", headers=merchant).status_code

    assert [read(operator["id"]), read(theirs["id"]), read(own["id"]), read("sim_nothing")] == [404, 404, 200, 404]
    marketer = bearer(make_key(db_session, "marketer"))
    assert client.get(f"/api/v1/rules/simulations/{own['id']}", headers=marketer).status_code == 200


def test_a_simulation_of_an_empty_period_is_all_zero(client, admin, shops):
    period = {"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}
    response = simulate(client, admin, WEEKEND_COFFEE, period)
    assert response.status_code == 200 and figures(response.json) == (0, 0, 0)
    assert response.json["progress"] == {"done": 0, "total": 0}


def test_purchases_at_the_same_instant_are_each_scored_once_across_chunks(db_session, shops):
    from loyalty.actors import cli_actor
    from loyalty.earning.services import check_new_rule
    from tests.factories_merchants import make_store as another_store

    store = another_store(db_session, shops["first"])
    for n in range(5):
        buy(db_session, store, occurred_at=at(21), total_minor=100 * (n + 1), items=coffee(100 * (n + 1)))
    spec = replace(check_new_rule(db_session, rule=WEEKEND_COFFEE, actor=cli_actor()), id="rul_draft")
    seen = []

    result = simulation.replay_period(db_session, spec=spec, start=at(21), end=at(22), on_chunk=seen.append, chunk=2)

    assert seen == [2, 4, 5]
    assert (result.purchases_scanned, result.purchases_matched, result.points) == (5, 5, 1 + 2 + 3 + 4 + 5)


def test_a_simulation_that_fails_says_so(client, db_session, admin, shops, app, run_jobs, monkeypatch):
    run_jobs()  # the members' welcome messages
    monkeypatch.setitem(app.config, "SIMULATION_SYNC_LIMIT", 0)
    queued = simulate(client, admin, WEEKEND_COFFEE).json

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(simulation, "iter_baskets", broken)
    run_jobs()  # the job fails, and RQ will retry it later

    failed = client.get(f"/api/v1/rules/simulations/{queued['id']}", headers=admin).json
    assert failed["status"] == "failed" and failed["error"] and failed["points"] is None
