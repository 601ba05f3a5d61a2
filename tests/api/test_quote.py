"""Quotes: a basket scored end to end against the active rules, as a till will see it, with nothing written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.earning.models import Rule, RulesetState, RuleVersion
from loyalty.ledger.models import LedgerEntry
from loyalty.members import cards
from loyalty.members.models import Member
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_merchant_key, make_store, make_terminal, signed_headers

QUOTE = "/api/v1/purchases/quote"
# Friday 18:30 UTC is Saturday 02:30 in Singapore, where the cafe is.
SATURDAY_IN_SINGAPORE = "2026-11-20T19:30:00+01:00"
# Sunday 17:00 UTC is already Monday 01:00 in Singapore.
MONDAY_IN_SINGAPORE = "2026-11-22T17:00:00Z"
BASKET = {
    "currency": "EUR",
    "total_minor": 4250,
    "items": [
        {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450},
        {"sku": "CROISSANT", "category": "pastry", "quantity": 3, "unit_price_minor": 300},
        {"sku": "BEANS", "category": "coffee", "quantity": 1, "unit_price_minor": 2450},
    ],
}


def rule(client, admin, body, *, activate=True) -> str:
    response = client.post("/api/v1/rules", json=body, headers=admin)
    assert response.status_code == 201, response.json
    if activate:
        assert client.post(f"/api/v1/rules/{response.json['id']}/activate", headers=admin).status_code == 200
    return response.json["id"]


@pytest.fixture()
def world(client, db_session):
    """A cafe in Singapore with a till, a bakery elsewhere, and the rules of both and of the operator."""
    admin = bearer(make_key(db_session, "admin"))
    cafe = make_merchant(db_session, name="Cafe")
    cafe_store = make_store(db_session, cafe.id, timezone="Asia/Singapore")
    _terminal, till_key, till_secret = make_terminal(db_session, cafe_store.id)
    bakery = make_merchant(db_session, name="Bakery")
    bakery_store = make_store(db_session, bakery.id, timezone="Europe/Paris")
    ids = {
        "base": rule(
            client,
            admin,
            {"name": "Base earn", "priority": 10, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        ),
        "weekend": rule(
            client,
            admin,
            {
                "name": "Weekend coffee double",
                "priority": 100,
                "condition": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
                "effect": {"type": "multiplier", "percent": 200},
                "limits": {"per_member": {"times": 1, "period": "day"}},
            },
        ),
        "pastry": rule(
            client,
            admin,
            {
                "name": "Pastry points",
                "priority": 50,
                "merchant_id": cafe.id,
                "effect": {"type": "per_item", "points": 5, "category": "pastry"},
            },
        ),
        "big_basket": rule(
            client,
            admin,
            {
                "name": "Big basket bonus",
                "priority": 20,
                "condition": "purchase.total_minor >= 4000",
                "effect": {"type": "bonus", "points": 50},
                "limits": {"budget_points": 100000},
            },
        ),
        "bakery": rule(
            client,
            admin,
            {"name": "Bakery bonus", "merchant_id": bakery.id, "effect": {"type": "bonus", "points": 1000}},
        ),
        "draft": rule(
            client, admin, {"name": "Draft bonus", "effect": {"type": "bonus", "points": 888}}, activate=False
        ),
    }
    ids["paused"] = rule(client, admin, {"name": "Paused bonus", "effect": {"type": "bonus", "points": 777}})
    assert client.post(f"/api/v1/rules/{ids['paused']}/pause", headers=admin).status_code == 200
    return {
        "admin": admin,
        "cafe": cafe,
        "cafe_store": cafe_store,
        "cafe_key": bearer(make_merchant_key(db_session, cafe.id)),
        "till": (till_key, till_secret),
        "bakery_store": bakery_store,
        "rules": ids,
    }


def till_quote(client, world, body, query=""):
    key, secret = world["till"]
    data = json.dumps(body).encode()
    headers = bearer(key) | signed_headers(secret, "POST", QUOTE + query, data)
    return client.post(QUOTE + query, data=data, content_type="application/json", headers=headers)


def written(session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (AuditEvent, Rule, RuleVersion, RulesetState, LedgerEntry, Member)
    )


def test_a_till_quotes_a_saturday_basket_with_every_rule_that_applies(client, db_session, world):
    before = written(db_session)

    response = till_quote(client, world, {**BASKET, "occurred_at": SATURDAY_IN_SINGAPORE})

    assert response.status_code == 200, response.json
    # Base 42 (4250 / 100) and pastry 15 (3 x 5) make 57; doubled on a weekend (+57); a 50 bonus after.
    assert response.json == {
        "points": 164,
        "breakdown": [
            {"rule_id": world["rules"]["weekend"], "rule_name": "Weekend coffee double", "points": 57},
            {"rule_id": world["rules"]["pastry"], "rule_name": "Pastry points", "points": 15},
            {"rule_id": world["rules"]["big_basket"], "rule_name": "Big basket bonus", "points": 50},
            {"rule_id": world["rules"]["base"], "rule_name": "Base earn", "points": 42},
        ],
    }
    assert written(db_session) == before


def test_the_weekend_is_the_stores_weekend_not_utcs(client, world):
    response = till_quote(client, world, {**BASKET, "occurred_at": MONDAY_IN_SINGAPORE})

    assert response.json["points"] == 42 + 15 + 50
    assert world["rules"]["weekend"] not in {line["rule_id"] for line in response.json["breakdown"]}


def test_a_member_quote_reads_the_members_facts(client, db_session, world):
    member = make_member(db_session, birth_month=11)
    rule(
        client,
        world["admin"],
        {
            "name": "Birthday month treat",
            "condition": "member.birthday_month",
            "effect": {"type": "bonus", "points": 100},
        },
    )
    body = {**BASKET, "total_minor": 100, "items": [], "occurred_at": MONDAY_IN_SINGAPORE}

    by_card = till_quote(client, world, {**body, "member": {"card_number": member.card_number}})
    by_email = till_quote(client, world, {**body, "member": {"email": member.email}})
    anonymous = till_quote(client, world, body)
    in_december = till_quote(
        client, world, {**body, "occurred_at": "2026-12-02T10:00:00Z", "member": {"member_id": member.id}}
    )

    assert by_card.json["points"] == by_email.json["points"] == 1 + 100
    assert anonymous.json["points"] == 1
    assert in_december.json["points"] == 1


def test_anonymous_baskets_have_their_own_lifecycle_stage(client, db_session, world):
    member = make_member(db_session)
    rule(
        client,
        world["admin"],
        {
            "name": "Members only",
            "condition": 'member.lifecycle_stage != "anonymous" and member.purchase_count == 0',
            "effect": {"type": "bonus", "points": 7},
        },
    )
    body = {**BASKET, "total_minor": 100, "items": [], "occurred_at": MONDAY_IN_SINGAPORE}

    assert till_quote(client, world, body).json["points"] == 1
    assert till_quote(client, world, {**body, "member": {"member_id": member.id}}).json["points"] == 1 + 7


def test_merchant_marketer_and_admin_keys_quote_at_a_store_they_name(client, db_session, world):
    body = {**BASKET, "occurred_at": SATURDAY_IN_SINGAPORE, "store_id": world["cafe_store"].id}
    marketer = bearer(make_key(db_session, "marketer"))

    for headers in (world["cafe_key"], marketer, world["admin"]):
        response = client.post(QUOTE, json=body, headers=headers)
        assert response.status_code == 200, response.json
        assert response.json["points"] == 164


def test_a_store_must_be_named_by_keys_other_than_a_terminals(client, world):
    response = client.post(QUOTE, json=BASKET, headers=world["admin"])

    assert response.status_code == 422
    assert "store_id" in response.json["errors"]


def test_another_merchants_store_is_not_found(client, world):
    theirs = {**BASKET, "store_id": world["bakery_store"].id}

    by_merchant = client.post(QUOTE, json=theirs, headers=world["cafe_key"])
    by_till = till_quote(client, world, theirs)

    assert by_merchant.status_code == by_till.status_code == 404
    assert by_merchant.json["reason"] == by_till.json["reason"] == "not_found"


def test_at_the_bakery_the_bakerys_rule_counts_and_the_cafes_does_not(client, world):
    body = {**BASKET, "occurred_at": SATURDAY_IN_SINGAPORE, "store_id": world["bakery_store"].id}

    response = client.post(QUOTE, json=body, headers=world["admin"])

    fired = {line["rule_name"]: line["points"] for line in response.json["breakdown"]}
    # The same instant is still Friday evening in Paris: no weekend double, and no pastry points of the cafe.
    assert fired == {"Big basket bonus": 50, "Base earn": 42, "Bakery bonus": 1000}


def test_explain_lists_the_rules_in_scope_that_gave_nothing(client, world):
    body = {**BASKET, "total_minor": 1000, "occurred_at": MONDAY_IN_SINGAPORE, "store_id": world["cafe_store"].id}

    response = client.post(f"{QUOTE}?explain=true", json=body, headers=world["cafe_key"])

    assert response.status_code == 200, response.json
    skipped = {item["rule_name"]: item["reason"] for item in response.json["skipped"]}
    assert skipped == {"Weekend coffee double": "condition_false", "Big basket bonus": "condition_false"}
    assert response.json["points"] == sum(line["points"] for line in response.json["breakdown"])
    assert "skipped" not in client.post(QUOTE, json=body, headers=world["cafe_key"]).json


def test_a_terminal_may_not_ask_for_an_explanation(client, world):
    response = till_quote(client, world, BASKET, query="?explain=true")

    assert response.status_code == 403
    assert response.json["reason"] == "forbidden"


def test_a_currency_the_program_does_not_run_in_is_currency_mismatch(client, world):
    response = till_quote(client, world, {**BASKET, "currency": "USD"})

    assert response.status_code == 422
    assert response.json["reason"] == "currency_mismatch"
    assert "currency" in response.json["errors"]


@pytest.mark.parametrize(
    "member",
    [
        {"card_number": "new"},
        {"member_id": "mbr_01NOBODY"},
        {"email": "nobody@example.com"},
        {"phone": "+351912000000"},
    ],
)
def test_an_unknown_member_is_member_not_found(client, world, member):
    if member.get("card_number") == "new":
        member = {"card_number": cards.new_card_number()}

    response = till_quote(client, world, {**BASKET, "member": member})

    assert response.status_code == 404
    assert response.json["reason"] == "member_not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"total_minor": 4250.0},
        {"total_minor": 42.5},
        {"total_minor": "4250"},
        {"total_minor": -1},
        {"total_minor": True},
        {"items": [{"sku": "LATTE", "category": "coffee", "quantity": 0, "unit_price_minor": 450}]},
        {"items": [{"sku": "LATTE", "category": "coffee", "quantity": 1.0, "unit_price_minor": 450}]},
        {"items": [{"sku": "LATTE", "category": "coffee", "quantity": "2", "unit_price_minor": 450}]},
        {"items": [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": -450}]},
        {"items": [{"sku": "", "quantity": 1, "unit_price_minor": 450}]},
        {"items": [{"sku": "LA\u0000TTE", "quantity": 1, "unit_price_minor": 450}]},
        {"items": [{"category": "coffee", "quantity": 1, "unit_price_minor": 450}]},
        {"occurred_at": "2026-11-21T10:15:00"},
        {"occurred_at": "0001-01-01T00:00:00+05:00"},
        {"currency": "eur"},
        {"member": {"card_number": "6042123412341234", "email": "a@example.com"}},
        {"member": {}},
        {"points": 10},
    ],
)
def test_a_malformed_basket_is_422_and_writes_nothing(client, db_session, world, change):
    before = written(db_session)

    response = till_quote(client, world, {**BASKET, **change})

    assert response.status_code == 422, response.json
    assert response.json["reason"] == "validation_error"
    assert written(db_session) == before
