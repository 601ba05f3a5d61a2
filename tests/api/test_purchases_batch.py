"""POST /purchases/batch: a till catching up sends its queued sales together, each answered as if alone."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from loyalty.ledger.models import LedgerEntry
from loyalty.purchases.models import Purchase
from tests.concurrency import race
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.ledger_checks import assert_ledger_consistent

BATCH = "/api/v1/purchases/batch"
RULES = (
    {"name": "One point per euro", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
    # Once a day per member: which sale gets it shows the order the sales were recorded in.
    {
        "name": "First visit of the day",
        "priority": 5,
        "effect": {"type": "bonus", "points": 25},
        "limits": {"per_member": {"times": 1, "period": "day"}},
    },
)


def open_till(client, session) -> dict:
    merchant, store, _terminal, key, secret = make_till(session)
    admin = make_key(session, "admin")
    assert client.patch("/api/v1/program", json={"pending_days": 0}, headers=bearer(admin)).status_code == 200
    for rule in RULES:
        created = client.post("/api/v1/rules", json=rule, headers=bearer(admin))
        assert created.status_code == 201, created.json
        assert client.post(f"/api/v1/rules/{created.json['id']}/activate", headers=bearer(admin)).status_code == 200

    def send(path: str, body=None, *, raw: bytes | None = None, signed_body: bytes | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        headers = bearer(key) | signed_headers(secret, "POST", path, data if signed_body is None else signed_body)
        return client.post(path, data=data, content_type="application/json", headers=headers)

    return {"merchant": merchant, "store": store, "send": send, "admin": admin}


@pytest.fixture()
def till(client, db_session):
    return open_till(client, db_session)


def sale(external_id: str, member=None, **overrides) -> dict:
    body = {
        "external_id": external_id,
        "occurred_at": "2026-11-22T10:15:00+08:00",
        "currency": "EUR",
        "total_minor": 4250,
        "items": [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450}],
    }
    if member is not None:
        body["member"] = {"card_number": member.card_number}
    return body | overrides


def results(response) -> list[dict]:
    assert response.status_code == 200, response.json
    answered = response.json["results"]
    assert [r["index"] for r in answered] == list(range(len(answered)))
    return answered


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_a_batch_records_each_sale_in_order_with_the_receipt_a_sale_sent_alone_gets(client, db_session, till):
    member = make_member(db_session)
    answered = results(till["send"](BATCH, {"purchases": [sale("B-1", member), sale("B-2", member), sale("B-3")]}))
    assert [(r["external_id"], r["status"], r["replayed"]) for r in answered] == [
        ("B-1", 201, False),
        ("B-2", 201, False),
        ("B-3", 201, False),
    ]
    first, second, anonymous = (r["receipt"] for r in answered)
    # In order: the first sale of the day got the daily bonus, the second did not.
    assert (first["points_awarded"], second["points_awarded"]) == (42 + 25, 42)
    assert second["balance"] == {"available": 42 + 25 + 42, "pending": 0}
    assert anonymous["member_id"] is None and anonymous["claim_code"]
    stored = client.get(f"/api/v1/purchases/{first['id']}", headers=bearer(till["admin"])).json
    assert (stored["external_id"], stored["points_awarded"], stored["member_id"]) == ("B-1", 67, member.id)
    # The same sale sent alone afterwards is a replay of exactly the receipt the batch gave.
    alone = till["send"]("/api/v1/purchases", sale("B-2", member))
    assert alone.status_code == 200 and alone.headers["Idempotent-Replayed"] == "true"
    assert alone.json == second
    assert count(db_session, Purchase) == 3 and count(db_session, LedgerEntry) == 2
    assert_ledger_consistent(db_session, member.id)


def test_a_sale_sent_alone_first_is_replayed_in_a_batch_with_its_exact_receipt(client, db_session, till):
    member = make_member(db_session)
    alone = till["send"]("/api/v1/purchases", sale("A-1", member))
    assert alone.status_code == 201
    response = till["send"](BATCH, {"purchases": [sale("A-1", member), sale("A-2", member)]})
    replayed, new = results(response)
    assert (replayed["status"], replayed["replayed"], new["status"]) == (200, True, 201)
    # The stored receipt's text is passed on as it is, byte for byte.
    assert alone.data.decode() in response.data.decode()
    assert new["receipt"]["points_awarded"] == 42  # the day's bonus went to A-1
    assert count(db_session, LedgerEntry) == 2


def test_one_bad_sale_is_refused_alone_with_the_error_it_would_get_alone_and_the_others_are_recorded(
    client, db_session, till
):
    member = make_member(db_session)
    bad = [
        sale("X-404") | {"member": {"email": "nobody@example.com"}},
        sale("X-float", member, total_minor=42.5),
        sale("X-usd", member, currency="USD"),
        sale("X-extra", member, bonus=100),
        sale("X-nul", member, items=[{"sku": "LAT\u0000TE", "quantity": 1, "unit_price_minor": 1}]),
        ["not", "a", "purchase"],
    ]
    answered = results(till["send"](BATCH, {"purchases": [sale("G-1", member), *bad, sale("G-2", member)]}))
    assert [(r["status"], r.get("error", {}).get("reason")) for r in answered] == [
        (201, None),
        (404, "member_not_found"),
        (422, "validation_error"),
        (422, "currency_mismatch"),
        (422, "validation_error"),
        (422, "validation_error"),
        (422, "validation_error"),
        (201, None),
    ]
    assert answered[2]["error"]["errors"] == {"total_minor": ["Not a valid integer."]}
    assert answered[6]["external_id"] is None
    assert [r["receipt"]["points_awarded"] for r in (answered[0], answered[-1])] == [67, 42]
    # Each refusal is the very envelope POST /purchases answers for that body alone.
    for body, result in zip(bad, answered[1:-1], strict=True):
        alone = till["send"]("/api/v1/purchases", body)
        assert (alone.status_code, alone.json) == (result["status"], result["error"])
    assert count(db_session, Purchase) == 2 and count(db_session, LedgerEntry) == 2
    assert_ledger_consistent(db_session, member.id)


def test_a_replayed_batch_awards_nothing_twice_and_a_changed_sale_conflicts_alone(client, db_session, till):
    member = make_member(db_session)
    batch = {"purchases": [sale(f"R-{n}", member) for n in range(3)]}
    first = results(till["send"](BATCH, batch))
    entries = count(db_session, LedgerEntry)
    # The same sales with other spacing and key order are the same sales.
    reordered = {"purchases": [dict(reversed(list(s.items()))) for s in batch["purchases"]]}
    again = results(till["send"](BATCH, raw=json.dumps(reordered, indent=2).encode()))
    assert [(r["status"], r["replayed"]) for r in again] == [(200, True)] * 3
    assert [r["receipt"] for r in again] == [r["receipt"] for r in first]
    changed = {"purchases": [batch["purchases"][0], sale("R-1", member, total_minor=9999), batch["purchases"][2]]}
    mixed = results(till["send"](BATCH, changed))
    assert [(r["status"], r.get("error", {}).get("reason")) for r in mixed] == [
        (200, None),
        (409, "idempotency_conflict"),
        (200, None),
    ]
    assert count(db_session, LedgerEntry) == entries == 3
    balance = client.get(f"/api/v1/members/{member.id}", headers=bearer(till["admin"])).json["balance"]
    assert balance["available"] == 67 + 42 + 42


def test_the_same_external_id_twice_in_one_batch_is_one_sale(db_session, till):
    member = make_member(db_session)
    answered = results(
        till["send"](
            BATCH, {"purchases": [sale("D-1", member), sale("D-1", member), sale("D-1", member, total_minor=1)]}
        )
    )
    assert [r["status"] for r in answered] == [201, 200, 409]
    assert answered[1]["receipt"] == answered[0]["receipt"]
    assert count(db_session, Purchase) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"purchases": []},
        {"purchases": [sale(f"L-{n}") for n in range(101)]},
        {"purchases": {"external_id": "L-1"}},
        {},
        {"purchases": [sale("L-1")], "extra": 1},
    ],
    ids=["empty", "over-100", "not-a-list", "missing", "unknown-field"],
)
def test_a_batch_that_is_not_a_list_of_1_to_100_purchases_is_refused_whole(db_session, till, body):
    response = till["send"](BATCH, body)
    assert response.status_code == 422 and response.json["reason"] == "validation_error"
    assert count(db_session, Purchase) == 0


def test_the_signature_covers_the_whole_batch(client, db_session, till):
    member = make_member(db_session)
    signed = json.dumps({"purchases": [sale("S-1", member)]}).encode()
    tampered = json.dumps({"purchases": [sale("S-1", member, total_minor=999999)]}).encode()
    refused = till["send"](BATCH, raw=tampered, signed_body=signed)
    assert refused.status_code == 401 and refused.json["reason"] == "bad_signature"
    assert count(db_session, Purchase) == 0
    assert till["send"](BATCH, raw=signed).status_code == 200
    assert count(db_session, Purchase) == 1


def test_a_merchant_key_names_the_store_of_each_sale_and_never_another_merchants(client, db_session, till):
    member = make_member(db_session)
    own = bearer(make_key(db_session, "merchant", merchant_id=till["merchant"].id))
    _m, other_store, _t, _k, _s = make_till(db_session)
    body = {
        "purchases": [
            sale("M-1", member),
            sale("M-2", member, store_id=other_store.id),
            sale("M-3", member, store_id=till["store"].id),
        ]
    }
    answered = results(client.post(BATCH, json=body, headers=own))
    assert [(r["status"], r.get("error", {}).get("reason")) for r in answered] == [
        (422, "validation_error"),
        (404, "not_found"),
        (201, None),
    ]
    assert db_session.scalars(select(Purchase.store_id)).all() == [till["store"].id]
    marketer = client.post(BATCH, json=body, headers=bearer(make_key(db_session, "marketer")))
    assert marketer.status_code == 403


def test_the_batch_is_in_the_served_openapi_with_its_limit_and_roles(client):
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/purchases/batch"]["post"]
    assert operation["x-roles"] == ["admin", "merchant", "terminal"]
    assert "up to 100" in operation["summary"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    purchases = document["components"]["schemas"][body]["properties"]["purchases"]
    assert purchases["maxItems"] == 100 and purchases["items"]["$ref"].endswith("/Purchase")


def test_the_same_batch_sent_four_times_at_once_records_each_sale_once_in_order(app, committed):
    with committed() as session:
        member = make_member(session)
        session.commit()
        web = app.test_client()
        till = open_till(web, session)
    batch = {"purchases": [sale(f"C-{n:02d}", member) for n in range(20)]}

    def deliver(_i: int) -> list[int]:
        return [r["status"] for r in results(till["send"](BATCH, batch))]

    answers = race(4, deliver)
    assert not [a for a in answers if isinstance(a, Exception)], answers
    # Each sale was recorded by exactly one of the four and replayed to the three others.
    for n in range(20):
        assert sorted(a[n] for a in answers) == [200, 200, 200, 201]
    with committed() as session:
        recorded = session.execute(
            select(Purchase.external_id, Purchase.points_awarded).order_by(Purchase.created_at)
        ).all()
        assert [external_id for external_id, _ in recorded] == [f"C-{n:02d}" for n in range(20)]
        assert [points for _, points in recorded] == [67] + [42] * 19
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 20
        assert_ledger_consistent(session, member.id)
