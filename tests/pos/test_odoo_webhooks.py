"""Odoo Point of Sale deliveries through the real endpoint, signed as terminals sign, recorded by the real job."""

from __future__ import annotations

import json
import time

import pytest

from tests.factories import bearer
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent
from tests.pos.connectors import odoo_headers, sample_bytes
from tests.pos.world import balance, connect, counts, events, open_shop, webhook_path

PAID = sample_bytes("odoo", "pos_order_paid.json")
REFUND = sample_bytes("odoo", "pos_order_refund.json")


@pytest.fixture()
def odoo(client, db_session, run_jobs):
    shop = open_shop(client, db_session, currency="EUR")
    connector = connect(
        client, shop, vendor="odoo", name="Odoo café", account="cafe-lisboa", locations={"2": shop.store_id}
    )
    member = make_member(db_session, phone="+351912345678")
    run_jobs()  # the welcome message
    path = webhook_path(connector)

    def deliver(raw: bytes, *, secret: str | None = None, skew: int = 0):
        # The timestamp is taken as the request leaves, ``skew`` seconds off the clock.
        headers = odoo_headers(secret or connector["signing_secret"], path, raw, timestamp=int(time.time()) + skew)
        return client.post(path, data=raw, content_type="application/json", headers=headers)

    return {"shop": shop, "connector": connector, "member": member, "deliver": deliver, "path": path}


def test_the_service_makes_the_odoo_secret_and_shows_it_once(client, odoo):
    assert odoo["connector"]["signing_secret"].startswith("lcs_")
    read = client.get(f"/api/v1/connectors/{odoo['connector']['id']}", headers=bearer(odoo["shop"].merchant_key)).json
    assert "signing_secret" not in read


def test_a_paid_order_earns_points_and_its_refund_takes_back_the_returned_items_share(
    client, db_session, run_jobs, odoo
):
    assert odoo["deliver"](PAID).status_code == 202
    run_jobs()
    assert balance(client, odoo["shop"], odoo["member"].id)["available"] == 9  # 9.88 EUR
    paid = events(client, odoo["shop"], odoo["connector"])[0]
    purchase = client.get(f"/api/v1/purchases/{paid['purchase_id']}", headers=bearer(odoo["shop"].admin)).json
    assert [(i["sku"], i["category"], i["quantity"], i["unit_price_minor"]) for i in purchase["items"]] == [
        ("ESP-DBL", "Coffee", 2, 250),
        ("product:44", "Bakery", 3, 144),
    ]

    assert odoo["deliver"](REFUND).status_code == 202
    run_jobs()
    purchase = client.get(f"/api/v1/purchases/{paid['purchase_id']}", headers=bearer(odoo["shop"].admin)).json
    assert [i["returned_quantity"] for i in purchase["items"]] == [2, 0]
    # 5.00 of 9.88 returned: floor(9 x 500 / 988) = 4 points back.
    assert purchase["points_reversed"] == 4
    assert balance(client, odoo["shop"], odoo["member"].id)["available"] == 5
    assert_ledger_consistent(db_session, odoo["member"].id)


def test_the_same_order_sent_again_as_it_moves_on_is_recorded_once(client, db_session, run_jobs, odoo):
    draft = json.loads(PAID)
    draft["order"]["state"] = "draft"
    odoo["deliver"](json.dumps(draft).encode())
    odoo["deliver"](PAID)
    assert odoo["deliver"](PAID).json["status"] == "duplicate"
    done = json.loads(PAID)
    done["order"]["state"] = "done"
    odoo["deliver"](json.dumps(done).encode())
    run_jobs()
    statuses = sorted(
        (e["vendor_event_id"].rsplit(":", 1)[1], e["status"], e["reason"])
        for e in events(client, odoo["shop"], odoo["connector"])
    )
    assert statuses == [
        ("done", "recorded", "replayed"),
        ("draft", "ignored", "order_not_paid"),
        ("paid", "recorded", None),
    ]
    assert balance(client, odoo["shop"], odoo["member"].id)["available"] == 9
    assert counts(db_session)["purchases"] == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"skew": -301}, "stale_request", id="stale timestamp"),
        pytest.param({"skew": 400}, "stale_request", id="future timestamp"),
        pytest.param({"secret": "lcs_not_the_connectors_secret"}, "bad_signature", id="wrong secret"),
    ],
)
def test_a_stale_or_wrongly_signed_delivery_is_refused_and_changes_nothing(
    client, db_session, run_jobs, odoo, change, reason
):
    before = counts(db_session)
    answer = odoo["deliver"](PAID, **change)
    assert (answer.status_code, answer.json["reason"]) == (401, reason)
    assert run_jobs() == 0
    assert counts(db_session) == before


def test_a_body_changed_after_signing_is_refused(client, db_session, odoo):
    before = counts(db_session)
    headers = odoo_headers(odoo["connector"]["signing_secret"], odoo["path"], PAID)
    tampered = PAID.replace(b'"amount_total": 9.88', b'"amount_total": 98.8')
    answer = client.post(odoo["path"], data=tampered, content_type="application/json", headers=headers)
    assert (answer.status_code, answer.json["reason"]) == (401, "bad_signature")
    assert counts(db_session) == before


def test_an_order_from_another_database_is_refused(client, db_session, odoo):
    other = json.loads(PAID)
    other["database"] = "someone-else"
    answer = odoo["deliver"](json.dumps(other).encode())
    assert answer.status_code == 422


def test_an_order_in_another_currency_than_the_programs_is_rejected_with_the_reason(client, db_session, run_jobs, odoo):
    dollars = json.loads(PAID)
    dollars["order"]["currency_id"] = [2, "USD"]
    dollars["order"]["uuid"] = "c0ffee00-0000-4000-8000-000000000001"
    odoo["deliver"](json.dumps(dollars).encode())
    run_jobs()
    (event,) = events(client, odoo["shop"], odoo["connector"])
    assert (event["status"], event["reason"]) == ("rejected", "currency_mismatch")
    assert counts(db_session)["purchases"] == 0
