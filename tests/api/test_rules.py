"""Earning rules over the API: drafts, versions, activation, errors a marketer can act on, limits and scope."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.earning.models import Rule, RuleVersion
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant

WEEKEND_COFFEE = {
    "name": "Weekend coffee double",
    "priority": 100,
    "stacking": "stack",
    "merchant_id": None,
    "starts_at": None,
    "ends_at": None,
    "condition": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
    "effect": {"type": "multiplier", "percent": 200},
    "limits": {"per_member": {"times": 1, "period": "day"}, "budget_points": 500000},
}
RULE_FIELDS = {
    "id",
    "status",
    "version",
    "versions",
    "name",
    "priority",
    "stacking",
    "merchant_id",
    "starts_at",
    "ends_at",
    "condition",
    "effect",
    "limits",
    "created_at",
    "updated_at",
}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def bonus(name: str = "Bonus", points: int = 10, **extra) -> dict:
    return {"name": name, "effect": {"type": "bonus", "points": points}, **extra}


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def marketer(db_session):
    return bearer(make_key(db_session, "marketer"))


def create(client, headers, body) -> dict:
    response = client.post("/api/v1/rules", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def set_limits(client, admin, **limits) -> None:
    response = client.patch("/api/v1/program", json={"merchant_rules": limits}, headers=admin)
    assert response.status_code == 200, response.json


# ---- life of a rule ------------------------------------------------------------------------


def test_a_new_rule_is_a_draft_at_version_one_and_reads_back_as_written(client, marketer):
    rule = create(client, marketer, WEEKEND_COFFEE)

    assert set(rule) == RULE_FIELDS
    assert rule["id"].startswith("rul_")
    assert rule["status"] == "draft"
    assert rule["version"] == 1 and rule["versions"] == 1
    assert {field: rule[field] for field in WEEKEND_COFFEE} == WEEKEND_COFFEE
    assert rule["created_at"].endswith("Z")
    assert client.get(f"/api/v1/rules/{rule['id']}", headers=marketer).json == rule


def test_defaults_fill_what_a_rule_leaves_out_and_windows_are_returned_in_utc(client, marketer):
    rule = create(client, marketer, bonus(starts_at="2026-11-01T00:00:00+01:00", ends_at="2026-12-01T00:00:00+01:00"))

    assert rule["priority"] == 0
    assert rule["stacking"] == "stack"
    assert rule["condition"] == ""
    assert rule["limits"] == {}
    assert rule["merchant_id"] is None
    assert rule["starts_at"] == "2026-10-31T23:00:00.000Z"
    assert rule["ends_at"] == "2026-11-30T23:00:00.000Z"


def test_patching_a_draft_edits_it_in_place(client, db_session, marketer):
    rule = create(client, marketer, WEEKEND_COFFEE)

    response = client.patch(
        f"/api/v1/rules/{rule['id']}",
        json={"name": "Weekend coffee triple", "effect": {"type": "multiplier", "percent": 300}},
        headers=marketer,
    )

    assert response.status_code == 200, response.json
    assert response.json["version"] == 1 and response.json["status"] == "draft"
    assert response.json["name"] == "Weekend coffee triple"
    assert response.json["effect"] == {"type": "multiplier", "percent": 300}
    assert response.json["condition"] == WEEKEND_COFFEE["condition"]
    assert count(db_session, RuleVersion) == 1


def test_patching_an_active_rule_makes_version_two_and_keeps_version_one(client, marketer):
    rule = create(client, marketer, WEEKEND_COFFEE)
    assert client.post(f"/api/v1/rules/{rule['id']}/activate", headers=marketer).status_code == 200

    response = client.patch(
        f"/api/v1/rules/{rule['id']}", json={"effect": {"type": "multiplier", "percent": 150}}, headers=marketer
    )

    assert response.status_code == 200, response.json
    assert response.json["status"] == "active"
    assert response.json["version"] == 2 and response.json["versions"] == 2
    assert response.json["effect"] == {"type": "multiplier", "percent": 150}
    versions = client.get(f"/api/v1/rules/{rule['id']}/versions", headers=marketer).json
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["items"][1]["effect"] == {"type": "multiplier", "percent": 200}
    assert versions["items"][1]["name"] == WEEKEND_COFFEE["name"]
    assert versions["items"][0]["created_by"]["role"] == "marketer"
    assert versions["next_cursor"] is None


def test_patching_a_paused_rule_makes_a_new_version_and_it_stays_paused(client, admin):
    rule = create(client, admin, bonus())
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin)
    client.post(f"/api/v1/rules/{rule['id']}/pause", headers=admin)

    response = client.patch(f"/api/v1/rules/{rule['id']}", json={"priority": 5}, headers=admin)

    assert response.json["status"] == "paused"
    assert response.json["version"] == 2


def test_a_patch_that_changes_nothing_makes_no_version_and_no_audit_event(client, db_session, admin):
    rule = create(client, admin, WEEKEND_COFFEE)
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin)
    events = count(db_session, AuditEvent)

    same = {field: WEEKEND_COFFEE[field] for field in ("name", "condition", "effect", "limits")}
    response = client.patch(f"/api/v1/rules/{rule['id']}", json=same, headers=admin)

    assert response.status_code == 200
    assert response.json["version"] == 1
    assert count(db_session, AuditEvent) == events


def test_null_clears_the_window_condition_and_limits(client, admin):
    rule = create(client, admin, {**WEEKEND_COFFEE, "starts_at": "2026-01-01T00:00:00Z"})

    response = client.patch(
        f"/api/v1/rules/{rule['id']}", json={"starts_at": None, "condition": None, "limits": None}, headers=admin
    )

    assert response.json["starts_at"] is None
    assert response.json["condition"] == ""
    assert response.json["limits"] == {}


def test_activate_and_pause_change_the_status_and_repeating_them_changes_nothing(client, db_session, admin):
    rule = create(client, admin, bonus())
    url = f"/api/v1/rules/{rule['id']}"

    assert client.post(f"{url}/activate", headers=admin).json["status"] == "active"
    assert client.post(f"{url}/activate", headers=admin).json["status"] == "active"
    assert client.post(f"{url}/pause", headers=admin).json["status"] == "paused"
    assert client.post(f"{url}/pause", headers=admin).json["status"] == "paused"
    assert client.post(f"{url}/activate", headers=admin).json["status"] == "active"

    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == rule["id"]).order_by(AuditEvent.id)
    ).all()
    assert actions == ["rule.create", "rule.activate", "rule.pause", "rule.activate"]


def test_pausing_a_draft_is_a_conflict(client, admin):
    rule = create(client, admin, bonus())

    response = client.post(f"/api/v1/rules/{rule['id']}/pause", headers=admin)

    assert response.status_code == 409
    assert response.json["reason"] == "invalid_state"


def test_every_change_is_audited_with_the_version(client, db_session, marketer):
    rule = create(client, marketer, bonus())
    url = f"/api/v1/rules/{rule['id']}"
    client.post(f"{url}/activate", headers=marketer)
    client.patch(url, json={"name": "Bigger bonus", "effect": {"type": "bonus", "points": 20}}, headers=marketer)
    client.post(f"{url}/pause", headers=marketer)

    events = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "rule", AuditEvent.object_id == rule["id"])
        .order_by(AuditEvent.id)
    ).all()

    assert [(e.action, e.data["version"], e.data["status"]) for e in events] == [
        ("rule.create", 1, "draft"),
        ("rule.activate", 1, "active"),
        ("rule.update", 2, "active"),
        ("rule.pause", 2, "paused"),
    ]
    assert events[2].data["fields"] == ["name", "effect"]
    assert {e.actor_role for e in events} == {"marketer"}


def test_rules_are_listed_newest_first_and_filtered(client, db_session, admin):
    merchant = make_merchant(db_session)
    first = create(client, admin, bonus("First"))
    second = create(client, admin, bonus("Second", merchant_id=merchant.id))
    third = create(client, admin, bonus("Third"))
    client.post(f"/api/v1/rules/{third['id']}/activate", headers=admin)

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/v1/rules{query}", headers=admin)
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    assert ids("") == [third["id"], second["id"], first["id"]]
    assert ids("?status=active") == [third["id"]]
    assert ids("?status=draft") == [second["id"], first["id"]]
    assert ids(f"?merchant_id={merchant.id}") == [second["id"]]
    assert ids("?scope=operator") == [third["id"], first["id"]]
    assert ids("?scope=merchants") == [second["id"]]
    page = client.get("/api/v1/rules?limit=2", headers=admin).json
    rest = client.get(f"/api/v1/rules?limit=2&cursor={page['next_cursor']}", headers=admin).json
    assert [r["id"] for r in page["items"] + rest["items"]] == [third["id"], second["id"], first["id"]]
    assert rest["next_cursor"] is None


def test_versions_are_paginated_newest_first(client, admin):
    rule = create(client, admin, bonus(points=1))
    url = f"/api/v1/rules/{rule['id']}"
    client.post(f"{url}/activate", headers=admin)
    for points in (2, 3, 4):
        client.patch(url, json={"effect": {"type": "bonus", "points": points}}, headers=admin)

    first = client.get(f"{url}/versions?limit=3", headers=admin).json
    rest = client.get(f"{url}/versions?limit=3&cursor={first['next_cursor']}", headers=admin).json

    assert [v["version"] for v in first["items"]] == [4, 3, 2]
    assert [v["version"] for v in rest["items"]] == [1]
    assert [v["effect"]["points"] for v in first["items"] + rest["items"]] == [4, 3, 2, 1]
    assert client.get(f"{url}/versions?cursor=bm9wZQ", headers=admin).status_code == 422


def test_an_unknown_rule_is_not_found(client, admin):
    for method, path in (
        ("get", "/api/v1/rules/rul_nope"),
        ("patch", "/api/v1/rules/rul_nope"),
        ("post", "/api/v1/rules/rul_nope/activate"),
        ("post", "/api/v1/rules/rul_nope/pause"),
        ("get", "/api/v1/rules/rul_nope/versions"),
    ):
        response = client.open(path, method=method.upper(), json={} if method == "patch" else None, headers=admin)
        assert response.status_code == 404, (method, path)
        assert response.json["reason"] == "not_found"


# ---- errors a marketer can act on ----------------------------------------------------------


def test_a_typo_in_a_fact_is_invalid_rule_with_its_position_and_a_suggestion(client, db_session, marketer):
    body = {**WEEKEND_COFFEE, "condition": 'purchase.local_weekday == "sat" and purchase.totl_minor >= 1000'}

    response = client.post("/api/v1/rules", json=body, headers=marketer)

    assert response.status_code == 422
    assert response.json["reason"] == "invalid_rule"
    error = response.json["errors"]
    assert error["field"] == "condition"
    assert error["position"] == body["condition"].index("purchase.totl_minor")
    assert (error["line"], error["column"]) == (1, error["position"] + 1)
    assert error["suggestion"] == "purchase.total_minor"
    assert "purchase.totl_minor" in error["message"]
    assert count(db_session, Rule) == 0


def test_a_condition_over_several_lines_reports_the_line_and_column(client, marketer):
    body = bonus(condition='purchase.total_minor >= 1000\nand member.teir == "gold"')

    error = client.post("/api/v1/rules", json=body, headers=marketer).json["errors"]

    assert (error["line"], error["column"]) == (2, 5)
    assert error["suggestion"] == "member.tier"


@pytest.mark.parametrize(
    "condition, suggestion",
    [
        ('purchase.total_minor == "1000"', None),  # an int compared with a string
        ("purchase.total_minor and true", None),  # `and` needs true/false
        ('purchase.local_weekday == "saturday"', "sat"),  # a value outside the fact's choices
        ('purchase.local_weekday = "sat"', "=="),  # a syntax error, with the right spelling
        ("purchase.total_minor >= 10.50", None),  # decimals: use minor units
    ],
)
def test_type_and_syntax_errors_in_a_condition_are_invalid_rule(client, marketer, condition, suggestion):
    response = client.post("/api/v1/rules", json=bonus(condition=condition), headers=marketer)

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "invalid_rule"
    assert response.json["errors"]["field"] == "condition"
    assert response.json["errors"]["position"] is not None
    assert response.json["errors"]["suggestion"] == suggestion


@pytest.mark.parametrize(
    "effect, field, suggestion",
    [
        ({"type": "multiplier", "percent": 50}, "effect.percent", None),
        ({"type": "multiply", "percent": 200}, "effect.type", "multiplier"),
        ({"type": "per_item", "points": 5}, "effect", None),
        ({"type": "per_item", "points": 5, "sku": "LATTE", "category": "coffee"}, "effect", None),
        ({"type": "per_amount", "points": 1}, "effect.per_minor", None),
        ({"type": "bonus", "points": 5, "percent": 200}, "effect.percent", None),
    ],
)
def test_a_bad_effect_is_invalid_rule_naming_the_field(client, db_session, marketer, effect, field, suggestion):
    response = client.post("/api/v1/rules", json={"name": "Bad", "effect": effect}, headers=marketer)

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "invalid_rule"
    assert response.json["errors"]["field"] == field
    assert response.json["errors"]["suggestion"] == suggestion
    assert count(db_session, Rule) == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"stacking": "exclusiv"}, "stacking"),
        ({"limits": {"per_member": {"times": 1, "period": "fortnight"}}}, "limits.per_member.period"),
        ({"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}, "ends_at"),
        ({"name": "Tab\there"}, "name"),
        ({"effect": {"type": "per_item", "points": 1, "sku": "Two\nlines"}}, "effect.sku"),
    ],
)
def test_other_faults_of_a_rule_are_invalid_rule_naming_the_field(client, marketer, change, field):
    response = client.post("/api/v1/rules", json={**bonus(), **change}, headers=marketer)

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "invalid_rule"
    assert response.json["errors"]["field"] == field


@pytest.mark.parametrize(
    "change",
    [
        {"priority": 1.5},
        {"priority": "100"},
        {"priority": True},
        {"effect": {"type": "bonus", "points": 2.0}},
        {"effect": {"type": "bonus", "points": "5"}},
        {"effect": {"type": "bonus", "points": -5}},
        {"effect": {"type": "bonus", "points": 5, "extra": 1}},
        {"conditon": "true"},
        {"name": ""},
        {"starts_at": "2026-11-01T00:00:00"},  # no offset
        {"effect": None},
        {"effect": {"type": "per_item", "points": 1, "sku": "NUL\u0000"}},
    ],
)
def test_a_body_of_the_wrong_shape_is_a_validation_error_and_saves_nothing(client, db_session, marketer, change):
    response = client.post("/api/v1/rules", json={**bonus(), **change}, headers=marketer)

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "validation_error"
    assert count(db_session, Rule) == 0


def test_a_failed_patch_changes_nothing(client, db_session, admin):
    rule = create(client, admin, WEEKEND_COFFEE)
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin)

    response = client.patch(f"/api/v1/rules/{rule['id']}", json={"condition": "member.tier == 3"}, headers=admin)

    assert response.status_code == 422 and response.json["reason"] == "invalid_rule"
    after = client.get(f"/api/v1/rules/{rule['id']}", headers=admin).json
    assert (after["version"], after["condition"]) == (1, WEEKEND_COFFEE["condition"])
    assert count(db_session, RuleVersion) == 1


def test_the_merchant_of_a_rule_cannot_change(client, db_session, admin):
    merchant = make_merchant(db_session)
    rule = create(client, admin, bonus(merchant_id=merchant.id))

    response = client.patch(f"/api/v1/rules/{rule['id']}", json={"merchant_id": None}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["field"] == "merchant_id"


def test_a_rule_for_an_unknown_merchant_is_invalid(client, admin):
    response = client.post("/api/v1/rules", json=bonus(merchant_id="mer_nope"), headers=admin)

    assert response.status_code == 422
    assert response.json["reason"] == "invalid_rule"
    assert response.json["errors"]["field"] == "merchant_id"
