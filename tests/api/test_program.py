from loyalty.audit.models import AuditEvent
from tests.factories import bearer, make_key

DEFAULT = {
    "name": "Loyalty program",
    "currency": "EUR",
    "redemption_rate": {"points": 100, "value_minor": 100},
    "pending_days": 14,
    "expiry_months": 24,
    "qualification_window_months": 12,
    "tier_grace_days": 30,
    "claim_window_days": 30,
    "timezone": "UTC",
    "contact_cap_count": 3,
    "contact_cap_days": 30,
    "merchant_rules": {
        "merchants_may_write": True,
        "max_multiplier_percent": None,
        "max_bonus_points": None,
        "max_points_per_item": None,
        "max_earn_rate": None,
        "max_budget_points": None,
        "require_budget": False,
        "allow_exclusive": False,
    },
    # The lifecycle stages' thresholds (docs/analytics.md), every one with its default.
    "lifecycle_settings": {
        "rhythm_min_purchases": 4,
        "at_risk_multiple": 2.0,
        "lapsed_multiple": 4.0,
        "lost_multiple": 8.0,
        "min_gap_days": 7,
        "at_risk_days": 60,
        "lapsed_days": 120,
        "lost_days": 365,
        "won_back_days": 90,
        "growth_window_days": 90,
        "growth_window_gaps": 3.0,
        "growth_ratio": 1.25,
    },
}


def test_every_role_reads_the_program(client, db_session):
    for role in ("admin", "marketer", "merchant"):
        merchant_id = None
        if role == "merchant":
            from tests.factories_merchants import make_merchant

            merchant_id = make_merchant(db_session).id
        secret = make_key(db_session, role, merchant_id=merchant_id)
        response = client.get("/api/v1/program", headers=bearer(secret))
        assert response.status_code == 200
        assert response.json == DEFAULT


def test_admin_changes_settings_and_the_change_is_audited(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.patch(
        "/api/v1/program",
        json={"currency": "JPY", "redemption_rate": {"points": 10, "value_minor": 1}, "expiry_months": None},
        headers=bearer(admin),
    )
    assert response.status_code == 200
    assert response.json["currency"] == "JPY"
    assert response.json["redemption_rate"] == {"points": 10, "value_minor": 1}
    assert response.json["expiry_months"] is None
    assert client.get("/api/v1/program", headers=bearer(admin)).json["currency"] == "JPY"
    event = db_session.query(AuditEvent).filter_by(action="program.update").one()
    assert event.data["currency"] == {"old": "EUR", "new": "JPY"}
    assert event.actor_role == "admin"


def test_marketer_cannot_change_the_program(client, db_session):
    marketer = make_key(db_session, "marketer")
    response = client.patch("/api/v1/program", json={"pending_days": 0}, headers=bearer(marketer))
    assert response.status_code == 403
    assert response.json["reason"] == "forbidden"
    assert client.get("/api/v1/program", headers=bearer(marketer)).json["pending_days"] == 14


import pytest  # noqa: E402


@pytest.mark.parametrize(
    "body",
    [
        {"pending_days": 1.5},
        {"pending_days": "3"},
        {"pending_days": -1},
        {"pending_days": True},
        {"currency": "XXQ"},
        {"currency": "eur"},
        {"timezone": "Mars/Olympus"},
        {"redemption_rate": {"points": 0, "value_minor": 1}},
        {"redemption_rate": {"points": 100}},
        {"name": ""},
        {"unknown_setting": 1},
    ],
)
def test_bad_settings_are_rejected_and_nothing_changes(client, db_session, body):
    admin = make_key(db_session, "admin")
    before = client.get("/api/v1/program", headers=bearer(admin)).json
    response = client.patch("/api/v1/program", json=body, headers=bearer(admin))
    assert response.status_code == 422
    assert response.json["reason"] == "validation_error"
    assert response.json["code"] == 422
    assert client.get("/api/v1/program", headers=bearer(admin)).json == before
    assert db_session.query(AuditEvent).filter_by(action="program.update").count() == 0
