import hashlib

import pytest
from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from loyalty.keys.models import ApiKey
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant


def test_admin_creates_a_key_whose_secret_is_shown_once_and_works(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.post("/api/v1/keys", json={"name": "campaign tool", "role": "marketer"}, headers=bearer(admin))
    assert response.status_code == 201
    body = response.json
    secret = body["secret"]
    assert secret.startswith("lk_") and len(secret) > 40
    assert body["role"] == "marketer" and body["hint"] == secret[-4:]

    # Shown once: reading the key again never shows the secret.
    again = client.get(f"/api/v1/keys/{body['id']}", headers=bearer(admin)).json
    assert "secret" not in again
    listed = client.get("/api/v1/keys", headers=bearer(admin)).json["items"]
    assert all("secret" not in item for item in listed)

    # And it works, with the marketer's rights.
    assert client.get("/api/v1/program", headers=bearer(secret)).status_code == 200
    assert client.get("/api/v1/keys", headers=bearer(secret)).status_code == 403


def test_only_a_hash_of_the_secret_is_stored(client, db_session):
    admin = make_key(db_session, "admin")
    secret = client.post("/api/v1/keys", json={"name": "k", "role": "admin"}, headers=bearer(admin)).json["secret"]
    stored = db_session.scalars(select(ApiKey)).all()
    for key in stored:
        for column in ApiKey.__table__.columns:
            assert secret not in str(getattr(key, column.key))
    assert hashlib.sha256(secret.encode()).hexdigest() in {k.secret_hash for k in stored}


def test_a_revoked_key_is_refused_at_once_and_the_revocation_is_audited(client, db_session):
    admin = make_key(db_session, "admin")
    created = client.post("/api/v1/keys", json={"name": "temp", "role": "admin"}, headers=bearer(admin)).json
    assert client.get("/api/v1/program", headers=bearer(created["secret"])).status_code == 200

    revoked = client.post(f"/api/v1/keys/{created['id']}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json["revoked_at"].endswith("Z")

    response = client.get("/api/v1/program", headers=bearer(created["secret"]))
    assert response.status_code == 401
    assert response.json["reason"] == "unauthenticated"
    again = client.post(f"/api/v1/keys/{created['id']}/revoke", headers=bearer(admin))
    assert again.status_code == 409 and again.json["reason"] == "invalid_state"
    actions = [e.action for e in db_session.scalars(select(AuditEvent).where(AuditEvent.object_id == created["id"]))]
    assert sorted(actions) == ["key.create", "key.revoke"]


def test_last_use_of_a_key_is_recorded(client, db_session):
    admin = make_key(db_session, "admin")
    key = db_session.scalars(select(ApiKey)).one()
    assert key.last_used_at is None
    client.get("/api/v1/program", headers=bearer(admin))
    db_session.expire_all()
    assert db_session.get(ApiKey, key.id).last_used_at is not None


def test_a_merchant_key_names_an_existing_merchant(client, db_session):
    admin = make_key(db_session, "admin")
    missing = client.post("/api/v1/keys", json={"name": "m", "role": "merchant"}, headers=bearer(admin))
    assert missing.status_code == 422
    unknown = client.post(
        "/api/v1/keys", json={"name": "m", "role": "merchant", "merchant_id": "mer_nope"}, headers=bearer(admin)
    )
    assert unknown.status_code == 404
    merchant = make_merchant(db_session)
    ok = client.post(
        "/api/v1/keys", json={"name": "m", "role": "merchant", "merchant_id": merchant.id}, headers=bearer(admin)
    )
    assert ok.status_code == 201 and ok.json["merchant_id"] == merchant.id
    stray = client.post(
        "/api/v1/keys", json={"name": "m", "role": "marketer", "merchant_id": merchant.id}, headers=bearer(admin)
    )
    assert stray.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x"},
        {"role": "admin"},
        {"name": "", "role": "admin"},
        {"name": "x", "role": "terminal"},
        {"name": "x", "role": "root"},
        {"name": 5, "role": "admin"},
        {"name": "x", "role": "admin", "extra": 1},
    ],
)
def test_bad_key_requests_are_rejected_and_create_nothing(client, db_session, body):
    admin = make_key(db_session, "admin")
    before = db_session.query(ApiKey).count()
    response = client.post("/api/v1/keys", json=body, headers=bearer(admin))
    assert response.status_code == 422
    assert set(response.json) >= {"code", "status", "message", "reason"}
    assert db_session.query(ApiKey).count() == before


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer lk_not-a-real-key", "Bearer not-even-our-format", "lk_abc"],
)
def test_missing_or_bad_keys_get_401(client, db_session, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/program", headers=headers)
    assert response.status_code == 401
    assert response.json["reason"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_keys_list_pages_through_every_key(client, db_session):
    admin = make_key(db_session, "admin")
    for _ in range(6):
        make_key(db_session, "marketer")
    seen, cursor = [], None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/keys{query}", headers=bearer(admin)).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)  # newest first


def test_the_audit_trail_lists_key_actions_for_admins_only(client, db_session):
    admin = make_key(db_session, "admin")
    marketer = make_key(db_session, "marketer")
    page = client.get("/api/v1/audit-events?action=key.create", headers=bearer(admin)).json
    assert len(page["items"]) == 2
    assert {item["data"]["role"] for item in page["items"]} == {"admin", "marketer"}
    assert client.get("/api/v1/audit-events", headers=bearer(marketer)).status_code == 403


def test_an_empty_merchant_id_names_no_merchant(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.post(
        "/api/v1/keys", json={"name": "m", "role": "marketer", "merchant_id": ""}, headers=bearer(admin)
    )
    assert response.status_code == 201 and response.json["merchant_id"] is None
    missing = client.post(
        "/api/v1/keys", json={"name": "m", "role": "merchant", "merchant_id": ""}, headers=bearer(admin)
    )
    assert missing.status_code == 422
