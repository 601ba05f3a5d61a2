"""Who may write which rules: merchants only their own, within the operator's limits; terminals none."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from loyalty.earning.models import Rule, RuleVersion
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant, make_merchant_key, make_till, signed_headers


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def bonus(name: str = "Bonus", points: int = 10, **extra) -> dict:
    return {"name": name, "effect": {"type": "bonus", "points": points}, **extra}


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def shop(db_session):
    """A merchant and its key."""
    merchant = make_merchant(db_session)
    return merchant, bearer(make_merchant_key(db_session, merchant.id))


def create(client, headers, body) -> dict:
    response = client.post("/api/v1/rules", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def set_limits(client, admin, **limits) -> None:
    response = client.patch("/api/v1/program", json={"merchant_rules": limits}, headers=admin)
    assert response.status_code == 200, response.json


# ---- a merchant's own rules ----------------------------------------------------------------


def test_a_merchants_rule_is_its_own_without_naming_it(client, shop):
    merchant, key = shop

    rule = create(client, key, bonus())

    assert rule["merchant_id"] == merchant.id
    assert client.get(f"/api/v1/rules/{rule['id']}", headers=key).status_code == 200


def test_a_merchant_cannot_write_an_operator_wide_rule(client, db_session, shop):
    _merchant, key = shop

    response = client.post("/api/v1/rules", json=bonus(merchant_id=None), headers=key)

    assert response.status_code == 403
    assert response.json["reason"] == "forbidden"
    assert count(db_session, Rule) == 0


def test_a_merchant_naming_another_merchant_gets_the_answer_of_a_merchant_that_does_not_exist(client, db_session, shop):
    _merchant, key = shop
    other = make_merchant(db_session)

    theirs = client.post("/api/v1/rules", json=bonus(merchant_id=other.id), headers=key)
    nobody = client.post("/api/v1/rules", json=bonus(merchant_id="mer_nobody"), headers=key)

    assert theirs.status_code == nobody.status_code == 422
    assert theirs.json["errors"] == nobody.json["errors"]
    assert theirs.json["errors"]["field"] == "merchant_id"
    assert count(db_session, Rule) == 0


def test_a_merchant_sees_and_changes_only_its_own_rules(client, db_session, admin, shop):
    merchant, key = shop
    other = make_merchant(db_session)
    own = create(client, key, bonus("Own"))
    theirs = create(client, admin, bonus("Theirs", merchant_id=other.id))
    operator = create(client, admin, bonus("Everyone's"))
    client.post(f"/api/v1/rules/{operator['id']}/activate", headers=admin)

    for rule in (theirs, operator):
        url = f"/api/v1/rules/{rule['id']}"
        for method, path, body in (
            ("GET", url, None),
            ("GET", f"{url}/versions", None),
            ("PATCH", url, {"name": "Taken over"}),
            ("POST", f"{url}/activate", None),
            ("POST", f"{url}/pause", None),
        ):
            response = client.open(path, method=method, json=body, headers=key)
            assert response.status_code == 404, (rule["name"], method, path)
            assert response.json["reason"] == "not_found"

    listed = client.get("/api/v1/rules", headers=key).json["items"]
    assert [rule["id"] for rule in listed] == [own["id"]]
    assert client.get(f"/api/v1/rules?merchant_id={other.id}", headers=key).json["items"] == []
    assert client.get(f"/api/v1/rules/{theirs['id']}", headers=admin).json["name"] == "Theirs"
    assert client.get(f"/api/v1/rules/{operator['id']}", headers=admin).json["status"] == "active"
    assert merchant.id == own["merchant_id"]


def test_a_terminal_may_not_read_or_write_rules(client, db_session, admin):
    _merchant, _store, _terminal, key, secret = make_till(db_session)
    rule = create(client, admin, bonus())
    for method, path, body in (
        ("POST", "/api/v1/rules", bonus()),
        ("GET", "/api/v1/rules", None),
        ("GET", f"/api/v1/rules/{rule['id']}", None),
        ("POST", f"/api/v1/rules/{rule['id']}/activate", None),
    ):
        data = json.dumps(body).encode() if body is not None else b""
        headers = bearer(key) | signed_headers(secret, method, path, data)
        response = client.open(path, method=method, data=data or None, content_type="application/json", headers=headers)
        assert response.status_code == 403, (method, path)
    assert client.get(f"/api/v1/rules/{rule['id']}", headers=admin).json["status"] == "draft"


# ---- the operator's limits -----------------------------------------------------------------


def test_the_program_shows_the_limits_and_a_patch_changes_only_those_named(client, admin):
    set_limits(client, admin, max_bonus_points=500, max_earn_rate={"points": 5, "per_minor": 100})
    set_limits(client, admin, require_budget=True)

    limits = client.get("/api/v1/program", headers=admin).json["merchant_rules"]

    assert limits == {
        "merchants_may_write": True,
        "max_multiplier_percent": None,
        "max_bonus_points": 500,
        "max_points_per_item": None,
        "max_earn_rate": {"points": 5, "per_minor": 100},
        "max_budget_points": None,
        "require_budget": True,
        "allow_exclusive": False,
    }
    set_limits(client, admin, max_earn_rate=None)
    assert client.get("/api/v1/program", headers=admin).json["merchant_rules"]["max_earn_rate"] is None


@pytest.mark.parametrize(
    "limits, rule, limit, field",
    [
        (
            {"max_multiplier_percent": 200},
            {"effect": {"type": "multiplier", "percent": 250}},
            "max_multiplier_percent",
            "effect.percent",
        ),
        ({"max_bonus_points": 100}, {"effect": {"type": "bonus", "points": 101}}, "max_bonus_points", "effect.points"),
        (
            {"max_points_per_item": 5},
            {"effect": {"type": "per_item", "points": 6, "category": "pastry"}},
            "max_points_per_item",
            "effect.points",
        ),
        (
            {"max_earn_rate": {"points": 1, "per_minor": 100}},
            {"effect": {"type": "per_amount", "points": 3, "per_minor": 200}},
            "max_earn_rate",
            "effect.points",
        ),
        (
            {"require_budget": True},
            {"effect": {"type": "bonus", "points": 5}},
            "require_budget",
            "limits.budget_points",
        ),
        (
            {"max_budget_points": 10000},
            {"effect": {"type": "bonus", "points": 5}, "limits": {"budget_points": 10001}},
            "max_budget_points",
            "limits.budget_points",
        ),
        ({}, {"effect": {"type": "bonus", "points": 5}, "stacking": "exclusive"}, "allow_exclusive", "stacking"),
    ],
)
def test_a_merchants_rule_beyond_the_operators_limits_is_invalid_naming_the_limit(
    client, db_session, admin, shop, limits, rule, limit, field
):
    _merchant, key = shop
    set_limits(client, admin, **limits)

    response = client.post("/api/v1/rules", json={"name": "Generous", **rule}, headers=key)

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "invalid_rule"
    assert response.json["errors"]["limit"] == limit
    assert response.json["errors"]["field"] == field
    assert limit in response.json["message"]
    assert count(db_session, Rule) == 0


@pytest.mark.parametrize(
    "limits, rule",
    [
        ({"max_multiplier_percent": 200}, {"effect": {"type": "multiplier", "percent": 200}}),
        (
            {"max_earn_rate": {"points": 1, "per_minor": 100}},
            {"effect": {"type": "per_amount", "points": 2, "per_minor": 200}},
        ),
        (
            {"max_budget_points": 10000, "require_budget": True},
            {"effect": {"type": "bonus", "points": 5}, "limits": {"budget_points": 10000}},
        ),
        ({"allow_exclusive": True}, {"effect": {"type": "bonus", "points": 5}, "stacking": "exclusive"}),
    ],
)
def test_a_merchants_rule_at_the_limits_is_saved(client, admin, shop, limits, rule):
    _merchant, key = shop
    set_limits(client, admin, **limits)

    create(client, key, {"name": "Just right", **rule})


def test_the_operators_own_rules_for_a_merchant_are_not_limited(client, admin, shop):
    merchant, _key = shop
    set_limits(client, admin, max_bonus_points=10)

    rule = create(client, admin, bonus(points=1000, merchant_id=merchant.id))

    assert client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin).json["status"] == "active"


def test_a_merchants_patch_is_held_to_the_limits(client, admin, shop):
    _merchant, key = shop
    set_limits(client, admin, max_bonus_points=100)
    rule = create(client, key, bonus(points=100))

    response = client.patch(
        f"/api/v1/rules/{rule['id']}", json={"effect": {"type": "bonus", "points": 150}}, headers=key
    )

    assert response.status_code == 422
    assert response.json["errors"]["limit"] == "max_bonus_points"


def test_activation_checks_a_merchants_draft_against_limits_tightened_since(client, admin, shop):
    _merchant, key = shop
    rule = create(client, key, bonus(points=300))
    set_limits(client, admin, max_bonus_points=200)

    response = client.post(f"/api/v1/rules/{rule['id']}/activate", headers=key)

    assert response.status_code == 422
    assert response.json["errors"]["limit"] == "max_bonus_points"
    assert client.get(f"/api/v1/rules/{rule['id']}", headers=key).json["status"] == "draft"


def test_when_merchants_may_not_write_rules_they_may_still_pause_theirs(client, admin, shop):
    _merchant, key = shop
    rule = create(client, key, bonus())
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=key)
    set_limits(client, admin, merchants_may_write=False)

    assert client.post("/api/v1/rules", json=bonus(), headers=key).status_code == 403
    assert client.patch(f"/api/v1/rules/{rule['id']}", json={"name": "x"}, headers=key).status_code == 403
    assert client.post(f"/api/v1/rules/{rule['id']}/pause", headers=key).json["status"] == "paused"
    assert client.post(f"/api/v1/rules/{rule['id']}/activate", headers=key).status_code == 403


@pytest.mark.parametrize(
    "limits",
    [
        {"max_multiplier_percent": 100},
        {"max_bonus_points": 0},
        {"max_bonus_points": 1.5},
        {"max_earn_rate": {"points": 1}},
        {"max_earn_rate": {"points": 0, "per_minor": 100}},
        {"require_budget": "yes"},
        {"unknown_limit": 1},
    ],
)
def test_bad_limits_are_rejected_and_nothing_changes(client, admin, limits):
    before = client.get("/api/v1/program", headers=admin).json

    response = client.patch("/api/v1/program", json={"merchant_rules": limits}, headers=admin)

    assert response.status_code == 422
    assert client.get("/api/v1/program", headers=admin).json == before


def test_versions_keep_who_wrote_them(client, db_session, admin, shop):
    _merchant, key = shop
    rule = create(client, key, bonus())
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin)
    client.patch(f"/api/v1/rules/{rule['id']}", json={"name": "Renamed by the operator"}, headers=admin)

    versions = client.get(f"/api/v1/rules/{rule['id']}/versions", headers=key).json["items"]

    assert [(v["version"], v["created_by"]["role"]) for v in versions] == [(2, "admin"), (1, "merchant")]
    assert count(db_session, RuleVersion) == 2
