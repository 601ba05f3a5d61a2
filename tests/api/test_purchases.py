"""POST /purchases and friends over HTTP, as a till and a merchant call them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from loyalty.ledger.models import LedgerEntry
from loyalty.purchases.models import Purchase
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.ledger_checks import assert_ledger_consistent


@pytest.fixture()
def till(client, db_session):
    merchant, store, _terminal, key, secret = make_till(db_session)
    admin = make_key(db_session, "admin")
    client.patch("/api/v1/program", json={"pending_days": 0}, headers=bearer(admin))
    for rule in (
        {"name": "One point per euro", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        {
            "name": "Pastry bonus",
            "merchant_id": merchant.id,
            "condition": '"pastry" in purchase.categories',
            "effect": {"type": "per_item", "points": 5, "category": "pastry"},
        },
    ):
        created = client.post("/api/v1/rules", json=rule, headers=bearer(admin))
        assert created.status_code == 201, created.json
        assert client.post(f"/api/v1/rules/{created.json['id']}/activate", headers=bearer(admin)).status_code == 200

    def send(method: str, path: str, body=None, *, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        headers = bearer(key) | signed_headers(secret, method, path, data)
        return client.open(path, method=method, data=data or None, content_type="application/json", headers=headers)

    return {"merchant": merchant, "store": store, "send": send, "admin": admin}


def basket(member=None, external_id="R-000123", **overrides):
    body = {
        "external_id": external_id,
        "occurred_at": "2026-11-22T10:15:00+08:00",
        "currency": "EUR",
        "total_minor": 4250,
        "items": [
            {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450},
            {"sku": "CROISSANT", "category": "pastry", "quantity": 3, "unit_price_minor": 1100},
        ],
    }
    if member is not None:
        body["member"] = {"card_number": member.card_number}
    return body | overrides


def test_a_till_sends_a_purchase_and_gets_points_breakdown_and_balance(client, db_session, till):
    member = make_member(db_session)
    response = till["send"]("POST", "/api/v1/purchases", basket(member))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["points_awarded"] == 42 + 15
    assert sorted((line["rule_name"], line["points"]) for line in body["breakdown"]) == [
        ("One point per euro", 42),
        ("Pastry bonus", 15),
    ]
    assert body["points_status"] == "available" and body["balance"] == {"available": 57, "pending": 0}
    assert body["member_id"] == member.id and "claim_code" not in body
    read = client.get(f"/api/v1/members/{member.id}", headers=bearer(till["admin"])).json
    assert read["balance"] == {"available": 57, "pending": 0}
    activity = client.get(f"/api/v1/members/{member.id}/activity", headers=bearer(till["admin"])).json["items"]
    assert [(e["kind"], e["points"], e["balance_after"], e["purchase_id"]) for e in activity] == [
        ("earn", 57, 57, body["id"])
    ]
    assert_ledger_consistent(db_session, member.id)


def test_a_retry_with_the_same_body_replays_the_identical_answer(client, db_session, till):
    member = make_member(db_session)
    raw = json.dumps(basket(member)).encode()
    first = till["send"]("POST", "/api/v1/purchases", raw=raw)
    # The same content with other spacing and key order is the same body.
    reordered = json.dumps(dict(reversed(list(json.loads(raw).items()))), indent=2).encode()
    again = till["send"]("POST", "/api/v1/purchases", raw=reordered)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.data == first.data
    conflict = till["send"]("POST", "/api/v1/purchases", basket(member, total_minor=9999))
    assert conflict.status_code == 409 and conflict.json["reason"] == "idempotency_conflict"
    assert db_session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_an_anonymous_purchase_prints_a_claim_code_the_member_claims_later(client, db_session, till):
    response = till["send"]("POST", "/api/v1/purchases", basket(None, external_id="R-ANON"))
    assert response.status_code == 201 and response.json["member_id"] is None
    code = response.json["claim_code"]
    member = make_member(db_session)
    admin = bearer(till["admin"])
    claim = client.post(f"/api/v1/members/{member.id}/claims", json={"claim_code": code}, headers=admin)
    assert claim.status_code == 201 and claim.json["points"] == 57
    again = client.post(f"/api/v1/members/{member.id}/claims", json={"claim_code": code}, headers=admin)
    assert again.status_code == 409 and again.json["reason"] == "already_claimed"
    unknown = client.post(f"/api/v1/members/{member.id}/claims", json={"claim_code": "ZZZZZ-ZZZZZ"}, headers=admin)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"currency": "USD"}, 422, "currency_mismatch"),
        ({"member": {"email": "nobody@example.com"}}, 404, "member_not_found"),
        ({"total_minor": 42.5}, 422, "validation_error"),
        ({"total_minor": "4250"}, 422, "validation_error"),
        ({"total_minor": -1}, 422, "validation_error"),
        ({"items": [{"sku": "X", "quantity": 0, "unit_price_minor": 1}]}, 422, "validation_error"),
        ({"items": [{"sku": "X", "quantity": 1.0, "unit_price_minor": 1}]}, 422, "validation_error"),
        ({"occurred_at": "2026-11-22T10:15:00"}, 422, "validation_error"),
        ({"member": {"card_number": "1234"}}, 422, "validation_error"),
        ({"member": {"card_number": "x", "email": "a@b.co"}}, 422, "validation_error"),
        ({"external_id": ""}, 422, "validation_error"),
        ({"bonus": 100}, 422, "validation_error"),
    ],
)
def test_bad_purchases_get_a_clear_error_and_write_nothing(client, db_session, till, change, status, reason):
    member = make_member(db_session)
    response = till["send"]("POST", "/api/v1/purchases", basket(member) | change)
    assert response.status_code == status, response.json
    assert response.json["reason"] == reason
    assert db_session.scalar(select(func.count()).select_from(Purchase)) == 0
    assert db_session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_returns_over_http_take_points_back_and_replay(client, db_session, till):
    member = make_member(db_session)
    purchase = till["send"]("POST", "/api/v1/purchases", basket(member)).json
    path = f"/api/v1/purchases/{purchase['id']}/returns"
    back = till["send"]("POST", path, {"external_id": "RET-1", "items": [{"sku": "CROISSANT", "quantity": 1}]})
    assert back.status_code == 201, back.json
    assert back.json["points_reversed"] == 57 * 1100 // 4250
    replay = till["send"]("POST", path, {"external_id": "RET-1", "items": [{"sku": "CROISSANT", "quantity": 1}]})
    assert replay.status_code == 200 and replay.data == back.data
    too_much = till["send"]("POST", path, {"external_id": "RET-2", "items": [{"sku": "LATTE", "quantity": 3}]})
    assert too_much.status_code == 422 and too_much.json["reason"] == "return_exceeds_purchase"
    both = till["send"](
        "POST", path, {"external_id": "RET-3", "items": [{"sku": "LATTE", "quantity": 1}], "amount_minor": 5}
    )
    assert both.status_code == 422
    stored = client.get(f"/api/v1/purchases/{purchase['id']}", headers=bearer(till["admin"])).json
    assert [r["external_id"] for r in stored["returns"]] == ["RET-1"]
    assert stored["items"][1]["returned_quantity"] == 1
    assert_ledger_consistent(db_session, member.id)


def test_another_merchant_sees_none_of_these_purchases(client, db_session, till):
    member = make_member(db_session)
    purchase = till["send"]("POST", "/api/v1/purchases", basket(member)).json
    other_merchant, _store, _terminal, _key, _secret = make_till(db_session)
    other = bearer(make_key(db_session, "merchant", merchant_id=other_merchant.id))
    assert client.get(f"/api/v1/purchases/{purchase['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/purchases", headers=other).json["items"] == []
    returned = client.post(
        f"/api/v1/purchases/{purchase['id']}/returns", json={"external_id": "X", "amount_minor": 100}, headers=other
    )
    assert returned.status_code == 404
    own = bearer(make_key(db_session, "merchant", merchant_id=till["merchant"].id))
    listed = client.get(f"/api/v1/purchases?member_id={member.id}", headers=own).json["items"]
    assert [p["id"] for p in listed] == [purchase["id"]]


def test_a_merchant_key_names_its_store_and_never_another_merchants(client, db_session, till):
    member = make_member(db_session)
    own = bearer(make_key(db_session, "merchant", merchant_id=till["merchant"].id))
    missing = client.post("/api/v1/purchases", json=basket(member), headers=own)
    assert missing.status_code == 422
    ok = client.post("/api/v1/purchases", json=basket(member) | {"store_id": till["store"].id}, headers=own)
    assert ok.status_code == 201
    _m, other_store, _t, _k, _s = make_till(db_session)
    foreign = client.post(
        "/api/v1/purchases", json=basket(member, external_id="R-9") | {"store_id": other_store.id}, headers=own
    )
    assert foreign.status_code == 404
