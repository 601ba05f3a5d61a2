"""Shopify's webhooks through the real endpoint, signed as Shopify signs them, recorded by the real job."""

from __future__ import annotations

import copy
import json

import pytest

from loyalty.db import utcnow
from loyalty.outbox import services as outbox
from loyalty.outbox.models import OutboxMessage
from pos_plugins.common.jobs import record_delivery
from tests.factories import bearer
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent
from tests.pos.connectors import sample_bytes, shopify_headers
from tests.pos.world import balance, connect, counts, events, open_shop, webhook_path

SECRET = "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"
ORDER = sample_bytes("shopify", "orders_paid.json")
REFUND = sample_bytes("shopify", "refunds_create.json")


@pytest.fixture()
def shopify(client, db_session, run_jobs):
    shop = open_shop(client, db_session, currency="USD")
    connector = connect(
        client,
        shop,
        vendor="shopify",
        name="Web and POS",
        signing_secret=SECRET,
        account="cafe.myshopify.com",
        locations={"487838322": shop.store_id},
        default_store_id=shop.other_store_id,
    )
    member = make_member(db_session, email="bob.norman@mail.example.com")
    run_jobs()  # the welcome message
    path = webhook_path(connector)

    def deliver(raw: bytes, *, topic: str, event_id: str, secret: str = SECRET, headers: dict | None = None):
        sent = shopify_headers(secret, raw, topic=topic, event_id=event_id) | (headers or {})
        return client.post(path, data=raw, content_type="application/json", headers=sent)

    return {"shop": shop, "connector": connector, "member": member, "deliver": deliver}


def test_a_paid_order_earns_the_member_points_once_the_job_has_run(client, db_session, run_jobs, shopify):
    shop, member = shopify["shop"], shopify["member"]
    answer = shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid-1")
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "accepted"
    assert balance(client, shop, member.id)["available"] == 0  # answered before any work is done

    assert run_jobs() == 1
    assert balance(client, shop, member.id)["available"] == 598
    (event,) = events(client, shop, shopify["connector"])
    assert (event["status"], event["external_id"], event["topic"]) == ("recorded", "shopify:450789469", "orders/paid")
    purchase = client.get(f"/api/v1/purchases/{event['purchase_id']}", headers=bearer(shop.admin)).json
    assert purchase["store_id"] == shop.store_id  # location 487838322 is that store
    assert purchase["total_minor"] == 59894
    assert [(i["sku"], i["unit_price_minor"]) for i in purchase["items"]] == [
        ("IPOD2008GREEN", 19566),
        ("IPOD2008RED", 19567),
        ("IPOD2008BLACK", 19567),
    ]
    assert_ledger_consistent(db_session, member.id)


def test_the_same_delivery_again_is_a_duplicate_and_changes_nothing(client, db_session, run_jobs, shopify):
    shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid-1")
    run_jobs()
    before = counts(db_session)

    again = shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid-1")
    assert again.status_code == 200
    assert again.json["status"] == "duplicate"
    assert run_jobs() == 0
    assert counts(db_session) == before
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 598


def test_another_event_about_the_same_order_never_awards_twice(client, db_session, run_jobs, shopify):
    shopify["deliver"](ORDER, topic="orders/create", event_id="evt-create")
    shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid")
    edited = json.loads(ORDER)
    edited["note"] = "gift wrap"
    edited["current_total_price"] = "500.00"
    edited["current_total_price_set"]["shop_money"]["amount"] = "500.00"
    shopify["deliver"](json.dumps(edited).encode(), topic="orders/updated", event_id="evt-updated")
    run_jobs()

    statuses = sorted(
        (e["topic"], e["status"], e["reason"]) for e in events(client, shopify["shop"], shopify["connector"])
    )
    assert statuses == [
        ("orders/create", "recorded", None),
        ("orders/paid", "recorded", "replayed"),
        ("orders/updated", "ignored", "order_already_recorded"),
    ]
    assert counts(db_session)["purchases"] == 1
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 598


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda raw, headers: (raw.replace(b'"598.94"', b'"998.94"'), headers), id="body changed"),
        pytest.param(
            lambda raw, headers: (raw, headers | {"X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl"}),
            id="wrong signature",
        ),
        pytest.param(
            lambda raw, headers: (raw, {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}),
            id="no signature",
        ),
        pytest.param(
            lambda raw, headers: (raw, shopify_headers("another-secret-x", raw, topic="orders/paid", event_id="evt-x")),
            id="other secret",
        ),
    ],
)
def test_a_tampered_delivery_is_refused_and_changes_nothing(client, db_session, run_jobs, shopify, tamper):
    before = counts(db_session)
    raw, headers = tamper(ORDER, shopify_headers(SECRET, ORDER, topic="orders/paid", event_id="evt-x"))
    answer = client.post(webhook_path(shopify["connector"]), data=raw, content_type="application/json", headers=headers)
    assert answer.status_code == 401
    assert answer.json["reason"] == "bad_signature"
    assert run_jobs() == 0
    assert counts(db_session) == before


def test_a_refund_returns_its_share_of_the_points(client, db_session, run_jobs, shopify):
    shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid")
    run_jobs()
    answer = shopify["deliver"](REFUND, topic="refunds/create", event_id="evt-refund")
    assert answer.status_code == 202
    run_jobs()

    # 199.65 of 598.94 given back: floor(598 x 19965 / 59894) = 199 points back.
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 399
    refund_event = next(
        e for e in events(client, shopify["shop"], shopify["connector"]) if e["topic"] == "refunds/create"
    )
    assert (refund_event["status"], refund_event["external_id"]) == ("recorded", "shopify:refund:509562969")
    purchase = client.get(
        f"/api/v1/purchases/{refund_event['purchase_id']}", headers=bearer(shopify["shop"].admin)
    ).json
    assert purchase["returned_minor"] == 19965
    assert purchase["points_reversed"] == 199
    # The refund again, as Shopify retries it: nothing more comes back.
    assert shopify["deliver"](REFUND, topic="refunds/create", event_id="evt-refund").json["status"] == "duplicate"
    shopify["deliver"](REFUND, topic="refunds/create", event_id="evt-refund-other-id")
    run_jobs()
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 399
    assert_ledger_consistent(db_session, shopify["member"].id)


def test_a_refund_whose_order_never_came_is_rejected_once_the_wait_is_over(client, db_session, run_jobs, shopify):
    shopify["deliver"](REFUND, topic="refunds/create", event_id="evt-early-refund")
    run_jobs()
    (event,) = events(client, shopify["shop"], shopify["connector"])
    assert event["status"] == "queued"  # its order may still be on its way: the job is retried later

    from loyalty.connectors.models import ConnectorEvent
    from loyalty.db import utcnow
    from pos_plugins.common.jobs import ORIGINAL_ORDER_WAIT

    db_session.get(ConnectorEvent, event["id"]).received_at = utcnow() - ORIGINAL_ORDER_WAIT
    db_session.commit()
    record_delivery(db_session, event["id"])
    db_session.commit()
    (event,) = events(client, shopify["shop"], shopify["connector"])
    assert (event["status"], event["reason"]) == ("rejected", "unknown_order")


def test_an_unknown_customer_buys_anonymously_and_gets_a_claim_code(client, db_session, run_jobs, shopify):
    stranger = json.loads(ORDER)
    stranger |= {"email": "new.shopper@example.com", "phone": None, "customer": None, "location_id": 999}
    stranger["processed_at"] = utcnow().isoformat()  # a claim is made within the program's claim window
    shopify["deliver"](json.dumps(stranger).encode(), topic="orders/paid", event_id="evt-anon")
    run_jobs()
    (event,) = events(client, shopify["shop"], shopify["connector"])
    assert event["status"] == "recorded"
    assert event["claim_code"]
    purchase = client.get(f"/api/v1/purchases/{event['purchase_id']}", headers=bearer(shopify["shop"].admin)).json
    assert purchase["member_id"] is None
    assert purchase["store_id"] == shopify["shop"].other_store_id  # an unmapped location goes to the default store
    # The shopper enrols later and claims the points with the code.
    member = make_member(db_session, email="new.shopper@example.com")
    claimed = client.post(
        f"/api/v1/members/{member.id}/claims",
        json={"claim_code": event["claim_code"]},
        headers=bearer(shopify["shop"].admin),
    )
    assert claimed.status_code in (200, 201), claimed.json
    assert balance(client, shopify["shop"], member.id)["available"] == 598


def test_a_retried_job_never_awards_twice(client, db_session, redis_conn, run_jobs, shopify):
    shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid")
    message = db_session.query(OutboxMessage).filter(OutboxMessage.task.endswith("process_connector_event")).one()
    run_jobs()
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 598

    # RQ delivers the job again (a worker lost after the commit): the message is done, nothing runs.
    outbox.enqueue_message(message.id, message.queue)
    run_jobs()
    # Even a delivery put back as it was received replays the stored purchase instead of awarding again.
    from loyalty.connectors.models import ConnectorEvent

    event = db_session.query(ConnectorEvent).one()
    event.status = "queued"
    event.payload = ORDER.decode()
    db_session.commit()
    assert record_delivery(db_session, event.id).reason == "replayed"
    db_session.commit()
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 598
    assert counts(db_session)["purchases"] == 1
    assert_ledger_consistent(db_session, shopify["member"].id)


def test_a_delivery_from_another_shop_a_disabled_connector_or_a_suspended_merchant_is_refused(
    client, db_session, run_jobs, shopify
):
    before = counts(db_session)
    other_shop = shopify["deliver"](
        ORDER, topic="orders/paid", event_id="evt-o", headers={"X-Shopify-Shop-Domain": "other.myshopify.com"}
    )
    assert other_shop.status_code == 422
    disabled = client.patch(
        f"/api/v1/connectors/{shopify['connector']['id']}",
        json={"status": "disabled"},
        headers=bearer(shopify["shop"].merchant_key),
    )
    assert disabled.status_code == 200
    assert shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-d").status_code == 404
    client.patch(
        f"/api/v1/connectors/{shopify['connector']['id']}",
        json={"status": "active"},
        headers=bearer(shopify["shop"].merchant_key),
    )
    client.patch(
        f"/api/v1/merchants/{shopify['shop'].merchant_id}",
        json={"status": "suspended"},
        headers=bearer(shopify["shop"].admin),
    )
    suspended = shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-s")
    assert (suspended.status_code, suspended.json["reason"]) == (403, "forbidden")
    assert counts(db_session) == before


def test_topics_with_nothing_to_record_are_acknowledged_and_not_stored(client, db_session, run_jobs, shopify):
    before = counts(db_session)
    answer = shopify["deliver"](b'{"id": 1}', topic="products/update", event_id="evt-product")
    assert (answer.status_code, answer.json["status"]) == (200, "ignored")
    assert counts(db_session) == before


def test_a_pending_order_is_ignored_and_its_paid_event_recorded_later(client, db_session, run_jobs, shopify):
    pending = json.loads(ORDER)
    pending["financial_status"] = "pending"
    shopify["deliver"](json.dumps(pending).encode(), topic="orders/create", event_id="evt-pending")
    run_jobs()
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 0
    shopify["deliver"](ORDER, topic="orders/paid", event_id="evt-paid")
    run_jobs()
    assert balance(client, shopify["shop"], shopify["member"].id)["available"] == 598
    statuses = {e["topic"]: (e["status"], e["reason"]) for e in events(client, shopify["shop"], shopify["connector"])}
    assert statuses == {"orders/create": ("ignored", "order_not_paid"), "orders/paid": ("recorded", None)}


def test_during_a_rotation_both_secrets_are_accepted_and_afterwards_only_the_new(client, db_session, run_jobs, shopify):
    key = shopify["shop"].merchant_key
    connector_id = shopify["connector"]["id"]
    rotated = client.post(
        f"/api/v1/connectors/{connector_id}/rotate-secret",
        json={"signing_secret": "shpss_new_secret_after_rotation", "grace_hours": 1},
        headers=bearer(key),
    )
    assert rotated.status_code == 200, rotated.json
    assert rotated.json["signing_secret"] is None  # Shopify's secret is Shopify's: never echoed
    assert shopify["deliver"](ORDER, topic="orders/paid", event_id="e1").status_code == 202
    assert (
        shopify["deliver"](
            ORDER, topic="orders/paid", event_id="e2", secret="shpss_new_secret_after_rotation"
        ).status_code
        == 202
    )
    client.post(
        f"/api/v1/connectors/{connector_id}/rotate-secret",
        json={"signing_secret": "shpss_third_secret_value", "grace_hours": 0},
        headers=bearer(key),
    )
    assert shopify["deliver"](ORDER, topic="orders/paid", event_id="e3").status_code == 401
    assert (
        shopify["deliver"](ORDER, topic="orders/paid", event_id="e4", secret="shpss_third_secret_value").status_code
        == 202
    )


def test_a_malformed_order_is_rejected_with_the_reason_and_awards_nothing(client, db_session, run_jobs, shopify):
    broken = copy.deepcopy(json.loads(ORDER))
    broken["current_total_price_set"]["shop_money"]["amount"] = "598.945"
    shopify["deliver"](json.dumps(broken).encode(), topic="orders/paid", event_id="evt-broken")
    run_jobs()
    (event,) = events(client, shopify["shop"], shopify["connector"])
    assert (event["status"], event["reason"]) == ("rejected", "malformed_payload")
    assert counts(db_session)["purchases"] == 0
