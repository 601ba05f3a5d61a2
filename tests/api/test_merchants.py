"""Partner merchants over HTTP: applications, approval, merchants, stores and terminals."""

import json

import pytest
from sqlalchemy import func, select

from loyalty import crypto
from loyalty.audit.models import AuditEvent
from loyalty.keys.models import ApiKey
from loyalty.merchants.models import Merchant, MerchantApplication, Store, Terminal, TerminalSecret
from tests.factories import bearer, make_key
from tests.factories_merchants import (
    make_application,
    make_merchant,
    make_merchant_key,
    make_store,
    make_terminal,
    make_till,
    signed_headers,
)

API = "/api/v1"
WRITTEN = (MerchantApplication, Merchant, Store, Terminal, TerminalSecret, ApiKey, AuditEvent)


def counts(session) -> dict[str, int]:
    """Rows per table, to prove a refused request wrote nothing."""
    session.expire_all()
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in WRITTEN}


def envelope_of(response, status: int, reason: str | None = None) -> dict:
    assert response.status_code == status, response.json
    body = response.json
    assert {"code", "status", "message", "reason"} <= set(body)
    assert body["code"] == status
    if reason:
        assert body["reason"] == reason
    return body


# ---- onboarding ------------------------------------------------------------------------------


def test_a_business_applies_is_approved_and_equips_a_store_with_a_signing_till(client, db_session):
    admin = make_key(db_session, "admin")

    applied = client.post(
        f"{API}/merchants/applications",
        json={
            "name": "Corner Bakery",
            "contact_email": "Owner@Corner-Bakery.example",
            "website": "https://corner-bakery.example/",
            "category": "bakery",
        },
    )
    assert applied.status_code == 202
    assert applied.json == {"id": applied.json["id"], "status": "pending"}
    application_id = applied.json["id"]

    pending = client.get(f"{API}/merchants/applications/{application_id}", headers=bearer(admin)).json
    assert pending["status"] == "pending" and pending["merchant_id"] is None
    assert pending["contact_email"] == "Owner@corner-bakery.example"  # normalised

    approved = client.post(f"{API}/merchants/applications/{application_id}/approve", headers=bearer(admin))
    assert approved.status_code == 201
    merchant_id, merchant_key = approved.json["merchant_id"], approved.json["api_key"]
    assert merchant_key.startswith("lk_")
    assert db_session.get(ApiKey, approved.json["api_key_id"]).merchant_id == merchant_id

    merchant = client.get(f"{API}/merchants/{merchant_id}", headers=bearer(merchant_key)).json
    assert merchant["name"] == "Corner Bakery" and merchant["category"] == "bakery"
    assert merchant["status"] == "active" and merchant["require_signed_requests"] is True
    # The merchant reads the application that made it.
    mine = client.get(f"{API}/merchants/applications/{application_id}", headers=bearer(merchant_key)).json
    assert mine["status"] == "approved" and mine["merchant_id"] == merchant_id and mine["decided_at"].endswith("Z")

    store = client.post(
        f"{API}/merchants/{merchant_id}/stores",
        json={"name": "Main St", "timezone": "Asia/Hong_Kong"},
        headers=bearer(merchant_key),
    )
    assert store.status_code == 201
    assert set(store.json) == {"id", "merchant_id", "name", "timezone", "status", "created_at"}
    assert store.json["merchant_id"] == merchant_id and store.json["timezone"] == "Asia/Hong_Kong"

    terminal = client.post(
        f"{API}/stores/{store.json['id']}/terminals", json={"name": "Till 1"}, headers=bearer(merchant_key)
    )
    assert terminal.status_code == 201
    body = terminal.json
    assert set(body) == {
        "id",
        "store_id",
        "merchant_id",
        "name",
        "status",
        "created_at",
        "api_key",
        "signing_secret",
    }
    assert body["store_id"] == store.json["id"] and body["merchant_id"] == merchant_id and body["status"] == "active"

    # The till's key works when it signs, and only then.
    path = f"{API}/program"
    unsigned = client.get(path, headers=bearer(body["api_key"]))
    envelope_of(unsigned, 401, "bad_signature")
    signed = client.get(
        path, headers={**bearer(body["api_key"]), **signed_headers(body["signing_secret"], "GET", path)}
    )
    assert signed.status_code == 200

    listed = client.get(f"{API}/merchants/{merchant_id}/stores", headers=bearer(merchant_key)).json
    assert [s["id"] for s in listed["items"]] == [store.json["id"]] and listed["next_cursor"] is None
    terminals = client.get(f"{API}/stores/{store.json['id']}/terminals", headers=bearer(merchant_key)).json
    assert [t["id"] for t in terminals["items"]] == [body["id"]]


@pytest.mark.parametrize(
    ("first", "second"),
    [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")],
)
def test_an_application_is_decided_once(client, db_session, first, second):
    admin = make_key(db_session, "admin")
    application = make_application(db_session)
    assert client.post(f"{API}/merchants/applications/{application.id}/{first}", headers=bearer(admin)).status_code in (
        200,
        201,
    )
    before = counts(db_session)
    again = client.post(f"{API}/merchants/applications/{application.id}/{second}", headers=bearer(admin))
    envelope_of(again, 409, "invalid_state")
    assert counts(db_session) == before
    status = client.get(f"{API}/merchants/applications/{application.id}", headers=bearer(admin)).json["status"]
    assert status == {"approve": "approved", "reject": "rejected"}[first]


def test_a_rejection_keeps_its_note_and_makes_no_merchant(client, db_session):
    admin = make_key(db_session, "admin")
    application = make_application(db_session)
    merchants = counts(db_session)["merchants"]
    rejected = client.post(
        f"{API}/merchants/applications/{application.id}/reject",
        json={"note": "  Outside our area.  "},
        headers=bearer(admin),
    )
    assert rejected.status_code == 200
    assert rejected.json["status"] == "rejected" and rejected.json["decision_note"] == "Outside our area."
    assert rejected.json["merchant_id"] is None
    assert counts(db_session)["merchants"] == merchants


def test_a_rejection_without_a_body_is_fine(client, db_session):
    admin = make_key(db_session, "admin")
    application = make_application(db_session)
    response = client.post(f"{API}/merchants/applications/{application.id}/reject", headers=bearer(admin))
    assert response.status_code == 200 and response.json["decision_note"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Bakery"},
        {"contact_email": "a@bakery.example"},
        {"name": "", "contact_email": "a@bakery.example"},
        {"name": "   ", "contact_email": "a@bakery.example"},
        {"name": "x" * 201, "contact_email": "a@bakery.example"},
        {"name": 5, "contact_email": "a@bakery.example"},
        {"name": "Bakery", "contact_email": "not-an-email"},
        {"name": "Bakery", "contact_email": "a@"},
        {"name": "Bakery", "contact_email": "a@localhost"},
        {"name": "Bakery", "contact_email": "a@bakery.test"},
        {"name": "Bakery", "contact_email": None},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "ftp://bakery.example"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "bakery.example"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "https://"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "https://bad host.example"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "javascript:alert(1)"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "category": "c" * 101},
        {"name": "Bakery", "contact_email": "a@bakery.example", "status": "approved"},
        {"name": "Bak\u0000ery", "contact_email": "a@bakery.example"},
        {"name": "Bakery\nLtd", "contact_email": "a@bakery.example"},
        {"name": "Bakery", "contact_email": "a\u0000@bakery.example"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "website": "https://bakery.example/\u0000"},
        {"name": "Bakery", "contact_email": "a@bakery.example", "category": "\ud800"},
        [],
        "Bakery",
    ],
)
def test_bad_applications_are_refused_and_write_nothing(client, db_session, body):
    before = counts(db_session)
    response = client.post(f"{API}/merchants/applications", json=body)
    envelope_of(response, 422)
    assert counts(db_session) == before


def test_malformed_json_is_a_400_envelope_and_writes_nothing(client, db_session):
    before = counts(db_session)
    response = client.post(f"{API}/merchants/applications", data=b'{"name": "Bakery",', content_type="application/json")
    envelope_of(response, 400, "malformed_json")
    assert counts(db_session) == before


def test_applications_are_listed_newest_first_and_filtered_by_status(client, db_session):
    admin = make_key(db_session, "admin")
    applications = [make_application(db_session) for _ in range(5)]
    client.post(f"{API}/merchants/applications/{applications[0].id}/approve", headers=bearer(admin))
    client.post(f"{API}/merchants/applications/{applications[1].id}/reject", headers=bearer(admin))

    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"{API}/merchants/applications{query}", headers=bearer(admin)).json
        seen += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == sorted((a.id for a in applications), reverse=True)

    pending = client.get(f"{API}/merchants/applications?status=pending", headers=bearer(admin)).json["items"]
    assert {a["id"] for a in pending} == {a.id for a in applications[2:]}
    approved = client.get(f"{API}/merchants/applications?status=approved", headers=bearer(admin)).json["items"]
    assert [a["id"] for a in approved] == [applications[0].id]

    for query in ("?status=maybe", "?limit=0", "?limit=501", "?limit=x", "?cursor=%%%", "?cursor=AA", "?cursor=%00"):
        response = client.get(f"{API}/merchants/applications{query}", headers=bearer(admin))
        envelope_of(response, 422)


@pytest.mark.parametrize("bad_id", ["nope", "mer_%00", "%00", "%F0%9F%8D%B0", "x" * 300])
def test_ids_that_cannot_exist_are_simply_not_found(client, db_session, bad_id):
    admin = make_key(db_session, "admin")
    for path in (
        f"/merchants/{bad_id}",
        f"/merchants/{bad_id}/stores",
        f"/stores/{bad_id}",
        f"/stores/{bad_id}/terminals",
        f"/terminals/{bad_id}",
        f"/merchants/applications/{bad_id}",
    ):
        envelope_of(client.get(API + path, headers=bearer(admin)), 404, "not_found")


def test_a_note_may_span_lines_but_not_hold_control_characters(client, db_session):
    admin = make_key(db_session, "admin")
    application = make_application(db_session)
    path = f"{API}/merchants/applications/{application.id}/reject"
    envelope_of(client.post(path, json={"note": "no\u0000"}, headers=bearer(admin)), 422)
    response = client.post(path, json={"note": "Outside our area.\nTry again next year."}, headers=bearer(admin))
    assert response.status_code == 200 and response.json["decision_note"].count("\n") == 1


def test_unknown_applications_are_404(client, db_session):
    admin = make_key(db_session, "admin")
    for method, path in (
        ("get", "/merchants/applications/app_nope"),
        ("post", "/merchants/applications/app_nope/approve"),
        ("post", "/merchants/applications/app_nope/reject"),
    ):
        envelope_of(getattr(client, method)(API + path, headers=bearer(admin)), 404, "not_found")


@pytest.mark.parametrize("body", [{"note": 5}, {"note": "x" * 2001}, {"reason": "no"}, []])
def test_bad_rejections_are_refused_and_leave_the_application_pending(client, db_session, body):
    admin = make_key(db_session, "admin")
    application = make_application(db_session)
    before = counts(db_session)
    response = client.post(f"{API}/merchants/applications/{application.id}/reject", json=body, headers=bearer(admin))
    envelope_of(response, 422)
    assert counts(db_session) == before
    db_session.expire_all()
    assert db_session.get(MerchantApplication, application.id).status == "pending"


# ---- merchants -------------------------------------------------------------------------------


def test_admin_and_marketer_list_merchants_and_others_may_not(client, db_session):
    admin = make_key(db_session, "admin")
    marketer = make_key(db_session, "marketer")
    merchants = [make_merchant(db_session) for _ in range(3)]
    for key in (admin, marketer):
        page = client.get(f"{API}/merchants?limit=500", headers=bearer(key)).json
        assert {m.id for m in merchants} <= {item["id"] for item in page["items"]}
    merchant_key = make_merchant_key(db_session, merchants[0].id)
    envelope_of(client.get(f"{API}/merchants", headers=bearer(merchant_key)), 403, "forbidden")
    envelope_of(client.get(f"{API}/merchants?status=closed", headers=bearer(admin)), 422)


def test_admin_changes_a_merchant_and_the_change_is_audited(client, db_session):
    admin = make_key(db_session, "admin")
    merchant = make_merchant(db_session)
    response = client.patch(
        f"{API}/merchants/{merchant.id}",
        json={
            "name": "Renamed",
            "category": "books",
            "website": "http://renamed.example",
            "require_signed_requests": False,
        },
        headers=bearer(admin),
    )
    assert response.status_code == 200
    assert response.json["name"] == "Renamed" and response.json["require_signed_requests"] is False
    assert client.get(f"{API}/merchants/{merchant.id}", headers=bearer(admin)).json["category"] == "books"
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "merchant.update")).one()
    assert event.object_id == merchant.id and event.actor_role == "admin"
    assert event.data["require_signed_requests"] == {"old": True, "new": False}
    assert event.data["name"]["new"] == "Renamed"


def test_a_merchant_edits_its_own_contact_details_but_not_the_operators_settings(client, db_session):
    merchant = make_merchant(db_session)
    key = make_merchant_key(db_session, merchant.id)
    ok = client.patch(
        f"{API}/merchants/{merchant.id}",
        json={"contact_email": "New@Shop.example", "website": None},
        headers=bearer(key),
    )
    assert ok.status_code == 200 and ok.json["contact_email"] == "New@shop.example"
    for change in ({"require_signed_requests": False}, {"status": "suspended"}, {"name": "Mine"}, {"category": "x"}):
        before = counts(db_session)
        envelope_of(client.patch(f"{API}/merchants/{merchant.id}", json=change, headers=bearer(key)), 403, "forbidden")
        assert counts(db_session) == before
    db_session.expire_all()
    assert db_session.get(Merchant, merchant.id).require_signed_requests is True


@pytest.mark.parametrize(
    "body",
    [
        {"require_signed_requests": "false"},
        {"require_signed_requests": 0},
        {"require_signed_requests": None},
        {"status": "closed"},
        {"status": None},
        {"name": ""},
        {"name": None},
        {"name": "   "},
        {"contact_email": "nope"},
        {"contact_email": None},
        {"website": "nope"},
        {"category": 3},
        {"id": "mer_other"},
        {"created_at": "2020-01-01T00:00:00Z"},
        [],
    ],
)
def test_bad_merchant_changes_are_refused_and_change_nothing(client, db_session, body):
    admin = make_key(db_session, "admin")
    merchant = make_merchant(db_session)
    before = counts(db_session)
    response = client.patch(f"{API}/merchants/{merchant.id}", json=body, headers=bearer(admin))
    envelope_of(response, 422)
    assert counts(db_session) == before
    shown = client.get(f"{API}/merchants/{merchant.id}", headers=bearer(admin)).json
    assert shown["name"] == merchant.name and shown["status"] == "active"


def test_an_empty_change_changes_nothing_and_audits_nothing(client, db_session):
    admin = make_key(db_session, "admin")
    merchant = make_merchant(db_session)
    before = counts(db_session)
    response = client.patch(f"{API}/merchants/{merchant.id}", json={}, headers=bearer(admin))
    assert response.status_code == 200 and response.json["name"] == merchant.name
    assert counts(db_session) == before


def test_a_suspended_merchants_keys_are_refused_until_it_is_reactivated(client, db_session):
    admin = make_key(db_session, "admin")
    merchant, store, _terminal, terminal_key, signing_secret = make_till(db_session)
    merchant_key = make_merchant_key(db_session, merchant.id)
    path = f"{API}/program"

    def till():
        return client.get(path, headers={**bearer(terminal_key), **signed_headers(signing_secret, "GET", path)})

    suspend = client.patch(f"{API}/merchants/{merchant.id}", json={"status": "suspended"}, headers=bearer(admin))
    assert suspend.status_code == 200 and suspend.json["status"] == "suspended"
    envelope_of(client.get(f"{API}/merchants/{merchant.id}", headers=bearer(merchant_key)), 403, "forbidden")
    envelope_of(till(), 403, "forbidden")
    # The operator cannot open stores or terminals for it meanwhile.
    envelope_of(
        client.post(
            f"{API}/merchants/{merchant.id}/stores", json={"name": "S", "timezone": "UTC"}, headers=bearer(admin)
        ),
        409,
        "invalid_state",
    )
    envelope_of(
        client.post(f"{API}/stores/{store.id}/terminals", json={"name": "T"}, headers=bearer(admin)),
        409,
        "invalid_state",
    )

    client.patch(f"{API}/merchants/{merchant.id}", json={"status": "active"}, headers=bearer(admin))
    assert client.get(f"{API}/merchants/{merchant.id}", headers=bearer(merchant_key)).status_code == 200
    assert till().status_code == 200


# ---- stores ----------------------------------------------------------------------------------


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "Europe/Lisbonn", "GMT+25", "", "../../etc/passwd", "x" * 65])
def test_a_store_needs_an_iana_timezone(client, db_session, timezone):
    merchant = make_merchant(db_session)
    key = make_merchant_key(db_session, merchant.id)
    before = counts(db_session)
    response = client.post(
        f"{API}/merchants/{merchant.id}/stores", json={"name": "Main St", "timezone": timezone}, headers=bearer(key)
    )
    body = envelope_of(response, 422)
    assert "timezone" in body["errors"]
    assert counts(db_session) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Main St"},
        {"timezone": "UTC"},
        {"name": "", "timezone": "UTC"},
        {"name": "  ", "timezone": "UTC"},
        {"name": "x" * 201, "timezone": "UTC"},
        {"name": 1, "timezone": "UTC"},
        {"name": "Main St", "timezone": 1},
        {"name": "Main St", "timezone": "UTC", "merchant_id": "mer_other"},
        {"name": "Main St", "timezone": "UTC", "status": "closed"},
        {"name": "Main\u0000St", "timezone": "UTC"},
        {"name": "Main St", "timezone": "Europe/Lisbon\u0000"},
    ],
)
def test_bad_stores_are_refused_and_write_nothing(client, db_session, body):
    merchant = make_merchant(db_session)
    key = make_merchant_key(db_session, merchant.id)
    before = counts(db_session)
    response = client.post(f"{API}/merchants/{merchant.id}/stores", json=body, headers=bearer(key))
    envelope_of(response, 422)
    assert counts(db_session) == before


def test_stores_are_listed_newest_first_page_by_page(client, db_session):
    merchant = make_merchant(db_session)
    key = make_merchant_key(db_session, merchant.id)
    stores = [make_store(db_session, merchant.id) for _ in range(5)]
    make_store(db_session, make_merchant(db_session).id)  # another merchant's
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"{API}/merchants/{merchant.id}/stores{query}", headers=bearer(key)).json
        seen += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == sorted((s.id for s in stores), reverse=True)


# ---- terminals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": 7},
        {"name": "T", "api_key": "mine"},
        {"name": "T\u0000"},
        [],
    ],
)
def test_bad_terminals_are_refused_and_write_nothing(client, db_session, body):
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id)
    key = make_merchant_key(db_session, merchant.id)
    before = counts(db_session)
    response = client.post(f"{API}/stores/{store.id}/terminals", json=body, headers=bearer(key))
    envelope_of(response, 422)
    assert counts(db_session) == before


def test_terminal_secrets_are_shown_once_and_never_stored_in_plaintext(client, db_session):
    admin = make_key(db_session, "admin")
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id)
    created = client.post(f"{API}/stores/{store.id}/terminals", json={"name": "Till"}, headers=bearer(admin)).json
    api_key, signing_secret = created["api_key"], created["signing_secret"]
    rotated = client.post(f"{API}/terminals/{created['id']}/rotate-secret", headers=bearer(admin)).json
    new_secret = rotated["signing_secret"]
    assert new_secret != signing_secret

    for path in (
        f"/terminals/{created['id']}",
        f"/stores/{store.id}/terminals",
        f"/stores/{store.id}",
        f"/merchants/{merchant.id}",
        "/audit-events?limit=500",
        "/keys?limit=500",
    ):
        text = client.get(API + path, headers=bearer(admin)).get_data(as_text=True)
        for secret in (api_key, signing_secret, new_secret):
            assert secret not in text, path
        if not path.startswith(("/audit-events", "/keys")):
            assert "signing_secret" not in text and '"api_key"' not in text

    db_session.expire_all()
    for model in (Terminal, TerminalSecret, ApiKey, AuditEvent, Merchant, Store):
        for row in db_session.scalars(select(model)):
            stored = json.dumps({c.key: str(getattr(row, c.key)) for c in model.__table__.columns})
            for secret in (api_key, signing_secret, new_secret):
                assert secret not in stored, model.__tablename__
    # The signing secrets are kept encrypted, and read back only by the service.
    stored = db_session.scalars(select(TerminalSecret).where(TerminalSecret.terminal_id == created["id"])).all()
    assert {crypto.decrypt(row.secret_encrypted) for row in stored} == {signing_secret, new_secret}


def test_changes_are_audited_with_who_did_them(client, db_session):
    admin = make_key(db_session, "admin")
    application_id = client.post(
        f"{API}/merchants/applications", json={"name": "Audited", "contact_email": "a@audited.example"}
    ).json["id"]
    merchant_id = client.post(f"{API}/merchants/applications/{application_id}/approve", headers=bearer(admin)).json[
        "merchant_id"
    ]
    store_id = client.post(
        f"{API}/merchants/{merchant_id}/stores", json={"name": "S", "timezone": "UTC"}, headers=bearer(admin)
    ).json["id"]
    terminal_id = client.post(f"{API}/stores/{store_id}/terminals", json={"name": "T"}, headers=bearer(admin)).json[
        "id"
    ]
    client.post(f"{API}/terminals/{terminal_id}/rotate-secret", headers=bearer(admin))
    client.post(f"{API}/terminals/{terminal_id}/revoke", headers=bearer(admin))

    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [(e.action, e.object_type) for e in events]
    for expected in [
        ("merchant_application.submit", "merchant_application"),
        ("merchant_application.approve", "merchant_application"),
        ("merchant.create", "merchant"),
        ("store.create", "store"),
        ("terminal.create", "terminal"),
        ("terminal.rotate_secret", "terminal"),
        ("terminal.revoke", "terminal"),
        ("key.revoke", "api_key"),
    ]:
        assert expected in actions
    submit = next(e for e in events if e.action == "merchant_application.submit")
    assert submit.actor_kind == "public" and submit.object_id == application_id
    for event in events:
        if event.action.startswith(("merchant.", "store.", "terminal.")):
            assert event.actor_role == "admin" and event.merchant_id == merchant_id
    # Two keys were made: the merchant's and the terminal's.
    assert sum(1 for e in events if e.action == "key.create" and e.merchant_id == merchant_id) == 2


def test_a_revoked_terminal_stops_working_and_cannot_be_revoked_twice(client, db_session):
    merchant, store, terminal, api_key, secret = make_till(db_session)
    key = make_merchant_key(db_session, merchant.id)
    path = f"{API}/program"
    assert client.get(path, headers={**bearer(api_key), **signed_headers(secret, "GET", path)}).status_code == 200

    revoked = client.post(f"{API}/terminals/{terminal.id}/revoke", headers=bearer(key))
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    response = client.get(path, headers={**bearer(api_key), **signed_headers(secret, "GET", path)})
    envelope_of(response, 401, "unauthenticated")
    envelope_of(client.post(f"{API}/terminals/{terminal.id}/revoke", headers=bearer(key)), 409, "invalid_state")
    envelope_of(client.post(f"{API}/terminals/{terminal.id}/rotate-secret", headers=bearer(key)), 409, "invalid_state")
    active = client.get(f"{API}/stores/{store.id}/terminals?status=active", headers=bearer(key)).json["items"]
    assert active == []
    listed = client.get(f"{API}/stores/{store.id}/terminals?status=revoked", headers=bearer(key)).json["items"]
    assert [t["id"] for t in listed] == [terminal.id]


@pytest.mark.parametrize(
    "body", [{"grace_hours": -1}, {"grace_hours": 721}, {"grace_hours": 1.5}, {"grace_hours": "2"}, {"hours": 2}, []]
)
def test_bad_rotations_are_refused_and_write_nothing(client, db_session, body):
    merchant, _store, terminal, _api_key, _secret = make_till(db_session)
    key = make_merchant_key(db_session, merchant.id)
    before = counts(db_session)
    response = client.post(f"{API}/terminals/{terminal.id}/rotate-secret", json=body, headers=bearer(key))
    envelope_of(response, 422)
    assert counts(db_session) == before


# ---- who may do what -------------------------------------------------------------------------


def _merchant_a_objects(db_session):
    merchant = make_merchant(db_session)
    application = make_application(db_session)
    from loyalty.actors import cli_actor
    from loyalty.merchants.services import approve_application

    approved, _secret = approve_application(db_session, application_id=application.id, actor=cli_actor())
    db_session.commit()
    store = make_store(db_session, approved.id)
    terminal, _key, _signing = make_terminal(db_session, store.id)
    return {"merchant": approved, "other": merchant, "application": application, "store": store, "terminal": terminal}


def _every_call(objs):
    m, s, t, a = objs["merchant"].id, objs["store"].id, objs["terminal"].id, objs["application"].id
    return [
        ("GET", f"/merchants/{m}", None),
        ("PATCH", f"/merchants/{m}", {"website": "https://mine.example"}),
        ("GET", f"/merchants/{m}/stores", None),
        ("POST", f"/merchants/{m}/stores", {"name": "Mine", "timezone": "UTC"}),
        ("GET", f"/stores/{s}", None),
        ("GET", f"/stores/{s}/terminals", None),
        ("POST", f"/stores/{s}/terminals", {"name": "Mine"}),
        ("GET", f"/terminals/{t}", None),
        ("POST", f"/terminals/{t}/rotate-secret", None),
        ("POST", f"/terminals/{t}/revoke", None),
        ("GET", f"/merchants/applications/{a}", None),
    ]


def test_another_merchants_key_finds_none_of_this_merchants_objects(client, db_session):
    objs = _merchant_a_objects(db_session)
    other_key = make_merchant_key(db_session, objs["other"].id)
    before = counts(db_session)
    for method, path, body in _every_call(objs):
        response = client.open(API + path, method=method, json=body, headers=bearer(other_key))
        found = envelope_of(response, 404, "not_found")
        # The same answer as for an id that does not exist at all.
        missing = client.open(API + path.replace("_", "_X", 1), method=method, json=body, headers=bearer(other_key))
        assert missing.status_code == 404 and missing.json["message"] == found["message"], path
    assert counts(db_session) == before


def test_merchant_keys_may_not_decide_applications_whether_or_not_they_exist(client, db_session):
    objs = _merchant_a_objects(db_session)
    pending = make_application(db_session)
    key = make_merchant_key(db_session, objs["merchant"].id)
    for application_id in (pending.id, "app_nope"):
        for action in ("approve", "reject"):
            response = client.post(f"{API}/merchants/applications/{application_id}/{action}", headers=bearer(key))
            envelope_of(response, 403, "forbidden")
    envelope_of(client.get(f"{API}/merchants/applications", headers=bearer(key)), 403, "forbidden")
    # An application that is not its own is not found, pending or not.
    envelope_of(client.get(f"{API}/merchants/applications/{pending.id}", headers=bearer(key)), 404, "not_found")


def test_a_terminal_key_may_not_manage_merchants_stores_or_terminals(client, db_session):
    objs = _merchant_a_objects(db_session)
    store = objs["store"]
    _terminal, api_key, secret = make_terminal(db_session, store.id)
    calls = [
        *_every_call(objs),
        ("GET", "/merchants", None),
        ("GET", "/merchants/applications", None),
        ("POST", f"/merchants/applications/{objs['application'].id}/approve", None),
        ("POST", f"/merchants/applications/{objs['application'].id}/reject", None),
    ]
    before = counts(db_session)
    for method, path, body in calls:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {**bearer(api_key), **signed_headers(secret, method, API + path, raw)}
        response = client.open(API + path, method=method, data=raw, content_type="application/json", headers=headers)
        envelope_of(response, 403, "forbidden")
    assert counts(db_session) == before


def test_a_marketer_reads_merchants_stores_and_terminals_but_changes_nothing(client, db_session):
    objs = _merchant_a_objects(db_session)
    marketer = make_key(db_session, "marketer")
    before = counts(db_session)
    for method, path, body in _every_call(objs):
        response = client.open(API + path, method=method, json=body, headers=bearer(marketer))
        if method == "GET" and "/applications/" not in path:
            assert response.status_code == 200, path
        else:
            envelope_of(response, 403, "forbidden")
    assert counts(db_session) == before


def test_without_a_key_only_applying_is_open(client, db_session):
    objs = _merchant_a_objects(db_session)
    calls = [*_every_call(objs), ("GET", "/merchants", None), ("GET", "/merchants/applications", None)]
    before = counts(db_session)
    for method, path, body in calls:
        response = client.open(API + path, method=method, json=body)
        envelope_of(response, 401, "unauthenticated")
    assert counts(db_session) == before


def test_the_openapi_document_describes_the_merchant_endpoints(client, db_session):
    spec = client.get(f"{API}/openapi.json").json
    paths = spec["paths"]
    for path in (
        "/api/v1/merchants/applications",
        "/api/v1/merchants/applications/{application_id}/approve",
        "/api/v1/merchants/applications/{application_id}/reject",
        "/api/v1/merchants/{merchant_id}",
        "/api/v1/merchants/{merchant_id}/stores",
        "/api/v1/stores/{store_id}",
        "/api/v1/stores/{store_id}/terminals",
        "/api/v1/terminals/{terminal_id}/rotate-secret",
        "/api/v1/terminals/{terminal_id}/revoke",
    ):
        assert path in paths, path
    apply = paths["/api/v1/merchants/applications"]["post"]
    assert "security" not in apply and "202" in apply["responses"]
    approve = paths["/api/v1/merchants/applications/{application_id}/approve"]["post"]
    assert approve["x-roles"] == ["admin"] and {"201", "401", "403", "404", "409"} <= set(approve["responses"])
    created = spec["components"]["schemas"]["CreatedTerminal"]["properties"]
    assert {"api_key", "signing_secret"} <= set(created)
    assert "signing_secret" not in spec["components"]["schemas"]["Terminal"]["properties"]
