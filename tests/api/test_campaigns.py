"""The campaign API: drafts, launch, progress, cancel, results; roles and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from tests.factories import bearer, make_key
from tests.factories_members import make_member

BODY = {
    "name": "Win back the lapsed",
    "audience": {"lifecycle_stages": ["lapsed"]},
    "offer": {"type": "bonus", "points": 200},
    "control_share_pct": 20,
    "budget_points": 100_000,
    "channels": ["email"],
    "message": {"en": {"subject": "We miss you", "body": "200 points are waiting."}},
    "measure_days": 14,
}


def _lapsed(session, count):
    members = [make_member(session, marketing_opt_in=True) for _ in range(count)]
    for member in members:
        member.lifecycle_stage = "lapsed"
    session.commit()
    return members


def test_a_marketer_writes_a_draft_changes_it_and_launches_it_and_every_step_is_audited(client, db_session, run_jobs):
    _lapsed(db_session, 12)
    headers = bearer(make_key(db_session, "marketer"))
    created = client.post("/api/v1/campaigns", json=BODY, headers=headers)
    assert created.status_code == 201, created.json
    campaign = created.json
    assert campaign["status"] == "draft" and campaign["audience"] == {"lifecycle_stages": ["lapsed"]}

    changed = client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"control_share_pct": 25}, headers=headers)
    assert changed.status_code == 200, changed.json["errors"]
    assert changed.json["control_share_pct"] == 25

    launched = client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert launched.status_code == 200 and launched.json["status"] == "running"
    run_jobs()
    read = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=headers).json
    assert read["audience_size"] == 12
    assert read["treatment_size"] + read["control_size"] == 12
    assert read["progress"]["phase"] == "delivered"
    assert read["progress"]["offered"] == read["treatment_size"]
    assert read["points_spent"] == 200 * read["treatment_size"]

    again = client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"name": "Late"}, headers=headers)
    assert again.status_code == 409 and again.json["reason"] == "invalid_state"
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == campaign["id"]).order_by(AuditEvent.id)
    ).all()
    assert actions == ["campaign.create", "campaign.update", "campaign.launch"]


def test_a_campaign_starting_later_is_scheduled_and_starts_from_the_schedule(client, db_session, run_jobs):
    from loyalty.campaigns.jobs import run_campaign_schedule

    _lapsed(db_session, 3)
    headers = bearer(make_key(db_session, "admin"))
    starts = datetime.now(UTC) + timedelta(hours=1)
    body = BODY | {"starts_at": starts.isoformat()}
    campaign = client.post("/api/v1/campaigns", json=body, headers=headers).json
    launched = client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers).json
    assert launched["status"] == "scheduled"
    assert run_campaign_schedule(now=datetime.now(UTC)) == {"started": 0, "completed": 0}
    assert run_campaign_schedule(now=starts + timedelta(seconds=1))["started"] == 1
    run_jobs()
    read = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=headers).json
    assert read["status"] == "running" and read["audience_size"] == 3


def test_cancel_stops_a_campaign_and_its_rule(client, db_session):
    headers = bearer(make_key(db_session, "marketer"))
    body = BODY | {"offer": {"type": "rule", "rule": {"effect": {"type": "bonus", "points": 5}}}}
    campaign = client.post("/api/v1/campaigns", json=body, headers=headers).json
    launched = client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers).json
    rule = client.get(f"/api/v1/rules/{launched['rule_id']}", headers=headers).json
    assert rule["status"] == "active"
    cancelled = client.post(f"/api/v1/campaigns/{campaign['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert client.get(f"/api/v1/rules/{launched['rule_id']}", headers=headers).json["status"] == "paused"
    twice = client.post(f"/api/v1/campaigns/{campaign['id']}/cancel", headers=headers)
    assert twice.status_code == 409


def test_bad_campaigns_are_refused_with_the_field_named(client, db_session):
    headers = bearer(make_key(db_session, "marketer"))
    cases = [
        (BODY | {"control_share_pct": 95}, "control_share_pct"),
        (
            BODY
            | {"offer": {"type": "rule", "rule": {"effect": {"type": "bonus", "points": 5}}}, "budget_points": None},
            "budget_points",
        ),
        (BODY | {"audience": {"lifecycle_stages": ["asleep"]}}, "audience"),
        (BODY | {"message": {}}, "message"),
        (BODY | {"offer": {"type": "reward", "reward_id": "rwd_01NOPE"}}, "offer.reward_id"),
        (
            BODY
            | {
                "offer": {
                    "type": "rule",
                    "rule": {"condition": "member.shoe_size > 3", "effect": {"type": "bonus", "points": 5}},
                }
            },
            "field",
        ),
    ]
    for body, field in cases:
        response = client.post("/api/v1/campaigns", json=body, headers=headers)
        assert response.status_code == 422, (body, response.json)
        assert field in str(response.json.get("errors")), (field, response.json)


def test_the_list_is_paginated_and_searchable(client, db_session):
    headers = bearer(make_key(db_session, "marketer"))
    for name in ("Spring", "Summer", "Autumn 50%"):
        client.post("/api/v1/campaigns", json=BODY | {"name": name}, headers=headers)
    first = client.get("/api/v1/campaigns?limit=2", headers=headers).json
    assert [c["name"] for c in first["items"]] == ["Autumn 50%", "Summer"]
    rest = client.get(f"/api/v1/campaigns?limit=2&cursor={first['next_cursor']}", headers=headers).json
    assert [c["name"] for c in rest["items"]] == ["Spring"] and rest["next_cursor"] is None
    assert [c["name"] for c in client.get("/api/v1/campaigns?q=summ", headers=headers).json["items"]] == ["Summer"]
    assert client.get("/api/v1/campaigns?q=%25", headers=headers).json["items"][0]["name"] == "Autumn 50%"


def test_the_audience_size_is_estimated_before_saving(client, db_session):
    _lapsed(db_session, 4)
    make_member(db_session)
    headers = bearer(make_key(db_session, "marketer"))
    response = client.post(
        "/api/v1/campaigns/audience-size", json={"audience": {"lifecycle_stages": ["lapsed"]}}, headers=headers
    )
    assert response.json == {"members": 4}


def test_results_say_a_small_campaign_is_too_small_and_give_the_raw_figures(client, db_session, run_jobs):
    _lapsed(db_session, 10)
    headers = bearer(make_key(db_session, "marketer"))
    campaign = client.post("/api/v1/campaigns", json=BODY | {"control_share_pct": 50}, headers=headers).json
    draft = client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=headers).json
    assert draft["verdict"].startswith("Not launched")
    client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers)
    run_jobs()
    results = client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=headers).json
    assert results["enough_data"] is False
    assert results["verdict"].startswith("Too small to show an effect")
    assert results["conversion_lift"] is None and results["return_on_points"] is None
    groups = results["groups"]
    assert groups["treatment"]["members"] + groups["control"]["members"] == 10
    assert results["points_cost"] == 200 * groups["treatment"]["members"]


def test_merchant_and_terminal_keys_may_not_touch_campaigns(client, db_session):
    from tests.factories_merchants import make_merchant

    merchant = make_merchant(db_session)
    headers = bearer(make_key(db_session, "merchant", merchant_id=merchant.id))
    assert client.get("/api/v1/campaigns", headers=headers).status_code == 403
    assert client.post("/api/v1/campaigns", json=BODY, headers=headers).status_code == 403


def test_the_program_takes_the_contact_cap(client, db_session):
    admin = bearer(make_key(db_session, "admin"))
    response = client.patch("/api/v1/program", json={"contact_cap_count": 5, "contact_cap_days": 7}, headers=admin)
    assert response.status_code == 200
    assert (response.json["contact_cap_count"], response.json["contact_cap_days"]) == (5, 7)
    assert client.patch("/api/v1/program", json={"contact_cap_days": 0}, headers=admin).status_code == 422
