"""Square's webhooks through the real endpoint, signed as Square signs them; orders read from a Square stand-in."""

from __future__ import annotations

import json

import pytest

from tests.factories import bearer
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent
from tests.pos.connectors import sample_bytes, square_headers
from tests.pos.square_stub import SquareStub
from tests.pos.world import balance, connect, counts, events, open_shop, webhook_path

SIGNATURE_KEY = "sq0wsk-Jx8oWj4Lz2YqA1d5"
TOKEN = "EAAAEOuLQOBQ_access_token_for_tests"
ORDER_ID = "eA3vssLHKJrv9H0IdJCM3gNqfdcZY"
ORDER_EVENT = sample_bytes("square", "order_updated.json")
REFUND_EVENT = sample_bytes("square", "refund_updated.json")


@pytest.fixture()
def square_api(app):
    stub = SquareStub(TOKEN)
    stub.objects = {
        f"/v2/orders/{ORDER_ID}": json.loads(sample_bytes("square", "retrieve_order.json")),
        "/v2/customers/JDKYHBWT1D4F8MFH63DBMEN8Y4": json.loads(sample_bytes("square", "retrieve_customer.json")),
        "/v2/payments/R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY": json.loads(sample_bytes("square", "retrieve_payment.json")),
    }
    saved = app.config["SQUARE_API_URL"]
    app.config["SQUARE_API_URL"] = stub.base
    yield stub
    app.config["SQUARE_API_URL"] = saved
    stub.close()


@pytest.fixture()
def square(client, db_session, run_jobs, square_api):
    shop = open_shop(client, db_session, currency="USD")
    connector = connect(
        client,
        shop,
        vendor="square",
        name="Square POS",
        signing_secret=SIGNATURE_KEY,
        api_token=TOKEN,
        account="5S9MXCS9Y99KK",
        locations={"L88917AVBK2S5": shop.store_id},
    )
    member = make_member(db_session, email="amelia.earhart@example.com")
    run_jobs()  # the welcome message

    def deliver(raw: bytes, *, key: str = SIGNATURE_KEY, url: str | None = None):
        headers = square_headers(key, url or connector["settings"]["notification_url"], raw)
        return client.post(webhook_path(connector), data=raw, content_type="application/json", headers=headers)

    return {"shop": shop, "connector": connector, "member": member, "deliver": deliver, "api": square_api}


def event(raw: bytes, **changes) -> bytes:
    body = json.loads(raw)
    body |= changes
    return json.dumps(body).encode()


def test_the_connector_keeps_the_url_square_signs(square):
    connector = square["connector"]
    assert connector["settings"]["notification_url"] == connector["webhook_url"]
    assert connector["has_api_token"] is True
    assert "api_token" not in connector and "signing_secret" not in connector


def test_a_completed_order_is_read_from_square_and_earns_points_once(client, db_session, run_jobs, square):
    answer = square["deliver"](ORDER_EVENT)
    assert (answer.status_code, answer.json["status"]) == (202, "accepted")
    run_jobs()

    assert balance(client, square["shop"], square["member"].id)["available"] == 24
    (recorded,) = events(client, square["shop"], square["connector"])
    assert (recorded["status"], recorded["external_id"]) == ("recorded", f"square:{ORDER_ID}")
    purchase = client.get(f"/api/v1/purchases/{recorded['purchase_id']}", headers=bearer(square["shop"].admin)).json
    assert (purchase["store_id"], purchase["total_minor"], len(purchase["items"])) == (square["shop"].store_id, 2475, 3)
    # Read with the seller's token and a pinned API version.
    assert {(path, auth, version) for path, auth, version in square["api"].requests} == {
        (f"/v2/orders/{ORDER_ID}", f"Bearer {TOKEN}", "2025-01-23"),
        ("/v2/customers/JDKYHBWT1D4F8MFH63DBMEN8Y4", f"Bearer {TOKEN}", "2025-01-23"),
    }

    # The same event again, and order.created about the same order: nothing more.
    assert square["deliver"](ORDER_EVENT).json["status"] == "duplicate"
    created = json.loads(ORDER_EVENT)
    created |= {"type": "order.created", "event_id": "0f6f3b8e-1111-4c5e-8a9d-5f4b3c2a1e00"}
    created["data"]["object"] = {"order_created": created["data"]["object"]["order_updated"]}
    assert square["deliver"](json.dumps(created).encode()).status_code == 202
    run_jobs()
    assert balance(client, square["shop"], square["member"].id)["available"] == 24
    assert counts(db_session)["purchases"] == 1
    assert_ledger_consistent(db_session, square["member"].id)


def test_an_order_not_completed_is_acknowledged_and_not_stored(client, db_session, square):
    before = counts(db_session)
    open_order = json.loads(ORDER_EVENT)
    open_order["event_id"] = "e-open"
    open_order["data"]["object"]["order_updated"]["state"] = "OPEN"
    answer = square["deliver"](json.dumps(open_order).encode())
    assert (answer.status_code, answer.json["status"]) == (200, "ignored")
    assert counts(db_session) == before


def test_a_completed_refund_returns_points_of_the_original_order(client, db_session, run_jobs, square):
    square["deliver"](ORDER_EVENT)
    run_jobs()
    assert square["deliver"](REFUND_EVENT).status_code == 202
    run_jobs()
    # 8.10 of 24.75 given back: floor(24 x 810 / 2475) = 7 points back.
    assert balance(client, square["shop"], square["member"].id)["available"] == 17
    refund = next(e for e in events(client, square["shop"], square["connector"]) if e["topic"] == "refund.updated")
    assert refund["status"] == "recorded"
    assert square["deliver"](event(REFUND_EVENT, event_id="another-id-same-refund")).status_code == 202
    run_jobs()
    assert balance(client, square["shop"], square["member"].id)["available"] == 17


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"raw": ORDER_EVENT.replace(b"COMPLETED", b"COMPLETED ")}, id="body changed"),
        pytest.param({"key": "another-signature-key"}, id="wrong key"),
        pytest.param({"url": "https://attacker.example/api/v1/pos-webhooks/square/x"}, id="signed for another URL"),
    ],
)
def test_a_tampered_event_is_refused_and_changes_nothing(client, db_session, run_jobs, square, tamper):
    before = counts(db_session)
    raw = tamper.pop("raw", ORDER_EVENT)
    if raw != ORDER_EVENT:
        headers = square_headers(SIGNATURE_KEY, square["connector"]["settings"]["notification_url"], ORDER_EVENT)
        answer = client.post(
            webhook_path(square["connector"]), data=raw, content_type="application/json", headers=headers
        )
    else:
        answer = square["deliver"](raw, **tamper)
    assert (answer.status_code, answer.json["reason"]) == (401, "bad_signature")
    assert run_jobs() == 0
    assert counts(db_session) == before


def test_square_unreachable_leaves_the_event_queued_for_a_retry_and_a_refused_token_rejects_it(
    app, client, db_session, run_jobs, square
):
    square["api"].status[f"/v2/orders/{ORDER_ID}"] = 503
    square["deliver"](ORDER_EVENT)
    run_jobs()  # the job fails and RQ schedules its retry
    (pending,) = events(client, square["shop"], square["connector"])
    assert pending["status"] == "queued"
    assert balance(client, square["shop"], square["member"].id)["available"] == 0

    square["api"].token = "revoked"
    from pos_plugins.common.jobs import record_delivery

    with app.app_context():  # as the worker runs it
        record_delivery(db_session, pending["id"])
        db_session.commit()
    (rejected,) = events(client, square["shop"], square["connector"])
    assert (rejected["status"], rejected["reason"]) == ("rejected", "vendor_api_refused")


def test_without_an_access_token_an_order_cannot_be_read_and_is_rejected(client, db_session, run_jobs, square):
    removed = client.patch(
        f"/api/v1/connectors/{square['connector']['id']}",
        json={"api_token": None},
        headers=bearer(square["shop"].merchant_key),
    )
    assert removed.json["has_api_token"] is False
    square["deliver"](ORDER_EVENT)
    run_jobs()
    (rejected,) = events(client, square["shop"], square["connector"])
    assert (rejected["status"], rejected["reason"]) == ("rejected", "vendor_api_refused")
    assert counts(db_session)["purchases"] == 0


def test_a_customer_square_will_not_show_makes_the_purchase_anonymous_with_a_claim_code(
    client, db_session, run_jobs, square
):
    square["api"].status["/v2/customers/JDKYHBWT1D4F8MFH63DBMEN8Y4"] = 403
    square["deliver"](ORDER_EVENT)
    run_jobs()
    (recorded,) = events(client, square["shop"], square["connector"])
    assert recorded["status"] == "recorded"
    assert recorded["claim_code"]
    assert balance(client, square["shop"], square["member"].id)["available"] == 0
