"""Connectors over the API: a merchant connects its POS, maps its locations, rotates write-only secrets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from loyalty.connectors.models import ConnectorSecret
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant, make_merchant_key, make_store


@pytest.fixture()
def merchant(client, db_session):
    merchant = make_merchant(db_session)
    return {
        "id": merchant.id,
        "key": make_merchant_key(db_session, merchant.id),
        "store": make_store(db_session, merchant.id).id,
        "admin": make_key(db_session, "admin"),
    }


def create(client, merchant, **body):
    return client.post(f"/api/v1/merchants/{merchant['id']}/connectors", json=body, headers=bearer(merchant["key"]))


def test_a_shopify_connector_keeps_its_secret_write_only_and_encrypted(client, db_session, merchant):
    created = create(
        client,
        merchant,
        vendor="shopify",
        name="Shop",
        signing_secret="shpss_merchant_secret",
        locations={"1": merchant["store"]},
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert "signing_secret" not in body
    assert body["webhook_url"] == f"http://localhost/api/v1/pos-webhooks/shopify/{body['id']}"
    assert (body["vendor"], body["status"], body["locations"]) == ("shopify", "active", {"1": merchant["store"]})
    stored = db_session.scalars(select(ConnectorSecret.secret_encrypted)).all()
    assert stored and all("shpss_merchant_secret" not in value for value in stored)
    audit = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "connector.create")).one()
    assert "shpss_merchant_secret" not in str(audit.data)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vendor": "shopify", "name": "No secret"}, "signing_secret"),
        ({"vendor": "square", "name": "No secret"}, "signing_secret"),
        ({"vendor": "odoo", "name": "Given secret", "signing_secret": "mine-12345"}, "signing_secret"),
        ({"vendor": "lightspeed", "name": "Unknown"}, "vendor"),
        ({"vendor": "shopify", "name": "Short", "signing_secret": "short"}, "signing_secret"),
        ({"vendor": "odoo", "name": "Bad store", "locations": {"1": "sto_01NOTOURS"}}, "locations"),
        ({"vendor": "odoo", "name": "Bad default", "default_store_id": "sto_01NOTOURS"}, "default_store_id"),
        ({"vendor": "odoo", "name": "Square setting", "settings": {"environment": "sandbox"}}, "settings"),
        (
            {"vendor": "square", "name": "Bad env", "signing_secret": "k" * 10, "settings": {"environment": "moon"}},
            "settings",
        ),
    ],
)
def test_a_connector_with_bad_input_is_refused_and_nothing_is_created(client, db_session, merchant, body, field):
    answer = create(client, merchant, **body)
    assert answer.status_code == 422, answer.json
    assert field in answer.json.get("errors", {}), answer.json
    assert client.get("/api/v1/connectors", headers=bearer(merchant["key"])).json["items"] == []


def test_another_merchants_store_cannot_be_mapped(client, db_session, merchant):
    other = make_merchant(db_session)
    their_store = make_store(db_session, other.id).id
    answer = create(client, merchant, vendor="odoo", name="Steal", locations={"1": their_store})
    assert answer.status_code == 422


def test_a_merchant_lists_only_its_own_connectors_page_by_page(client, db_session, merchant):
    for n in range(3):
        assert create(client, merchant, vendor="odoo", name=f"Till {n}").status_code == 201
    other = make_merchant(db_session)
    client.post(
        f"/api/v1/merchants/{other.id}/connectors",
        json={"vendor": "odoo", "name": "Theirs"},
        headers=bearer(merchant["admin"]),
    )

    first = client.get("/api/v1/connectors?limit=2", headers=bearer(merchant["key"])).json
    assert [c["name"] for c in first["items"]] == ["Till 2", "Till 1"]
    second = client.get(
        f"/api/v1/connectors?limit=2&cursor={first['next_cursor']}", headers=bearer(merchant["key"])
    ).json
    assert ([c["name"] for c in second["items"]], second["next_cursor"]) == (["Till 0"], None)
    everyone = client.get("/api/v1/connectors", headers=bearer(merchant["admin"])).json["items"]
    assert len(everyone) == 4
    theirs = next(c for c in everyone if c["name"] == "Theirs")
    assert client.get(f"/api/v1/connectors/{theirs['id']}", headers=bearer(merchant["key"])).status_code == 404
    assert client.get(f"/api/v1/connectors/{theirs['id']}/events", headers=bearer(merchant["key"])).status_code == 404


def test_a_connectors_store_mapping_and_status_change_and_are_audited(client, db_session, merchant):
    connector = create(client, merchant, vendor="odoo", name="Odoo").json
    second_store = make_store(db_session, merchant["id"]).id
    changed = client.patch(
        f"/api/v1/connectors/{connector['id']}",
        json={
            "locations": {"2": second_store},
            "default_store_id": merchant["store"],
            "status": "disabled",
            "name": "Odoo 17",
        },
        headers=bearer(merchant["key"]),
    )
    assert changed.status_code == 200, changed.json
    assert (
        changed.json["locations"],
        changed.json["default_store_id"],
        changed.json["status"],
        changed.json["name"],
    ) == (
        {"2": second_store},
        merchant["store"],
        "disabled",
        "Odoo 17",
    )
    audit = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "connector.update")).one()
    assert audit.data == {"fields": ["default_store_id", "locations", "name", "status"]}
    refused = client.patch(
        f"/api/v1/connectors/{connector['id']}", json={"vendor": "shopify"}, headers=bearer(merchant["key"])
    )
    assert refused.status_code == 422


def test_rotating_an_odoo_secret_shows_the_new_one_once_and_keeps_the_old_for_the_grace(client, merchant):
    connector = create(client, merchant, vendor="odoo", name="Odoo").json
    rotated = client.post(
        f"/api/v1/connectors/{connector['id']}/rotate-secret", json={"grace_hours": 2}, headers=bearer(merchant["key"])
    )
    assert rotated.status_code == 200, rotated.json
    assert rotated.json["signing_secret"].startswith("lcs_")
    assert rotated.json["signing_secret"] != connector["signing_secret"]
    assert rotated.json["previous_valid_until"].endswith("Z")
    given = client.post(
        f"/api/v1/connectors/{connector['id']}/rotate-secret",
        json={"signing_secret": "mine-123456"},
        headers=bearer(merchant["key"]),
    )
    assert given.status_code == 422


def test_a_suspended_merchant_cannot_connect_and_a_marketer_or_terminal_may_not_manage_connectors(
    client, db_session, merchant
):
    marketer = make_key(db_session, "marketer")
    assert client.get("/api/v1/connectors", headers=bearer(marketer)).status_code == 403
    client.patch(f"/api/v1/merchants/{merchant['id']}", json={"status": "suspended"}, headers=bearer(merchant["admin"]))
    answer = client.post(
        f"/api/v1/merchants/{merchant['id']}/connectors",
        json={"vendor": "odoo", "name": "Late"},
        headers=bearer(merchant["admin"]),
    )
    assert answer.status_code == 409
