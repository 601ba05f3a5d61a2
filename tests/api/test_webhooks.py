"""The webhook API: a merchant manages its own subscriptions, reads its delivery log and redelivers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from loyalty.webhooks import delivery
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_merchant_key, make_store
from tests.factories_purchases import buy
from tests.webhook_receiver import serve, verify

URL = "https://partner.example.com/loyalty/hooks"


@pytest.fixture()
def merchant(client, db_session):
    shop = make_merchant(db_session)
    return {"id": shop.id, "key": make_merchant_key(db_session, shop.id), "store": make_store(db_session, shop.id)}


@pytest.fixture()
def receiver():
    saved = delivery.settings()
    delivery.configure(allow_localhost=True, retry_base_seconds=0, max_attempts=2)
    receiver, server = serve()
    yield receiver
    server.shutdown()
    server.server_close()
    delivery.configure(**saved.__dict__)


def create(client, merchant, **body):
    return client.post(
        f"/api/v1/merchants/{merchant['id']}/webhooks",
        json={"url": URL, "events": ["points.earned"], **body},
        headers=bearer(merchant["key"]),
    )


def test_a_merchant_subscribes_and_sees_the_secret_once(client, db_session, merchant):
    created = create(client, merchant, events=["points.earned", "tier.changed", "points.earned"], description="CRM")

    assert created.status_code == 201, created.json
    body = created.json
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["points.earned", "tier.changed"]
    assert (body["merchant_id"], body["url"], body["description"]) == (merchant["id"], URL, "CRM")
    read = client.get(f"/api/v1/webhooks/{body['id']}", headers=bearer(merchant["key"]))
    assert read.status_code == 200
    assert "secret" not in read.json
    assert read.json == {k: v for k, v in body.items() if k != "secret"}
    listed = client.get(f"/api/v1/merchants/{merchant['id']}/webhooks", headers=bearer(merchant["key"]))
    assert [item["id"] for item in listed.json["items"]] == [body["id"]]
    assert listed.json["next_cursor"] is None
    audit = db_session.scalars(select(AuditEvent).where(AuditEvent.object_id == body["id"])).all()
    assert [(e.action, e.merchant_id) for e in audit] == [("webhook.create", merchant["id"])]


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example.com/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:8000/hooks",
        "https://localhost/hooks",
        "http://[::1]/hooks",
        "https://user:secret@partner.example.com/hooks",
        "ftp://partner.example.com/hooks",
        "https://partner.example.com/hooks#part",
        "https:///hooks",
        "not a url",
    ],
)
def test_an_unsafe_or_unusable_target_is_refused(client, db_session, merchant, url):
    response = create(client, merchant, url=url)

    assert response.status_code == 422, (url, response.json)
    assert "url" in response.json["errors"]
    listed = client.get(f"/api/v1/merchants/{merchant['id']}/webhooks", headers=bearer(merchant["key"]))
    assert listed.json["items"] == []


def test_an_unknown_event_type_is_refused(client, merchant):
    response = create(client, merchant, events=["points.earned", "member.deleted"])
    assert response.status_code == 422
    assert "events" in response.json["errors"]


def test_another_merchant_neither_sees_nor_touches_a_subscription(client, db_session, merchant):
    webhook_id = create(client, merchant).json["id"]
    other = make_merchant(db_session)
    other_key = make_merchant_key(db_session, other.id)

    assert client.get(f"/api/v1/webhooks/{webhook_id}", headers=bearer(other_key)).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{webhook_id}", headers=bearer(other_key)).status_code == 404
    assert client.post(f"/api/v1/webhooks/{webhook_id}/rotate-secret", json={}, headers=bearer(other_key)).json[
        "reason"
    ] == ("not_found")
    assert client.get(f"/api/v1/merchants/{merchant['id']}/webhooks", headers=bearer(other_key)).status_code == 404
    created = client.post(
        f"/api/v1/merchants/{merchant['id']}/webhooks",
        json={"url": URL, "events": ["points.earned"]},
        headers=bearer(other_key),
    )
    assert created.status_code == 404
    assert client.get(f"/api/v1/webhooks/{webhook_id}", headers=bearer(merchant["key"])).status_code == 200


def test_the_operator_manages_any_merchants_subscriptions(client, db_session, merchant):
    admin = make_key(db_session, "admin")
    created = client.post(
        f"/api/v1/merchants/{merchant['id']}/webhooks",
        json={"url": URL, "events": ["member.enrolled"]},
        headers=bearer(admin),
    )
    assert created.status_code == 201
    rotated = client.post(
        f"/api/v1/webhooks/{created.json['id']}/rotate-secret", json={"grace_hours": 2}, headers=bearer(admin)
    )
    assert rotated.status_code == 200
    assert rotated.json["secret"] != created.json["secret"]
    read = client.get(f"/api/v1/webhooks/{created.json['id']}", headers=bearer(merchant["key"]))
    assert read.json["previous_secret_valid_until"] == rotated.json["previous_valid_until"]
    assert client.delete(f"/api/v1/webhooks/{created.json['id']}", headers=bearer(admin)).status_code == 204
    assert client.get(f"/api/v1/webhooks/{created.json['id']}", headers=bearer(admin)).status_code == 404
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == created.json["id"]).order_by(AuditEvent.id)
    ).all()
    assert actions == ["webhook.create", "webhook.rotate_secret", "webhook.delete"]


def test_the_delivery_log_shows_each_delivery_and_a_redelivery_sends_the_event_again(
    client, db_session, run_jobs, merchant, receiver
):
    created = create(client, merchant, url=receiver.url).json
    receiver.answer(500, 500)
    purchase = buy(db_session, merchant["store"], member=make_member(db_session))
    run_jobs()

    log = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=bearer(merchant["key"]))
    assert log.status_code == 200
    (failed,) = log.json["items"]
    assert {k: failed[k] for k in ("webhook_id", "event_type", "status", "attempts", "response_code")} == {
        "webhook_id": created["id"],
        "event_type": "points.earned",
        "status": "failed",
        "attempts": 2,
        "response_code": 500,
    }
    assert failed["last_error"] == "HTTP 500."
    detail = client.get(f"/api/v1/webhook-deliveries/{failed['id']}", headers=bearer(merchant["key"])).json
    assert detail["event"]["id"] == failed["event_id"]
    assert detail["event"]["data"]["purchase_id"] == purchase.receipt["id"]

    again = client.post(f"/api/v1/webhook-deliveries/{failed['id']}/redeliver", headers=bearer(merchant["key"]))
    assert again.status_code == 202
    assert (again.json["status"], again.json["redelivery_of"]) == ("pending", failed["id"])
    run_jobs()

    log = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=bearer(merchant["key"])).json
    assert [(d["id"], d["status"]) for d in log["items"]] == [
        (again.json["id"], "succeeded"),
        (failed["id"], "failed"),
    ]
    succeeded = client.get(
        f"/api/v1/webhooks/{created['id']}/deliveries?status=succeeded&limit=1", headers=bearer(merchant["key"])
    ).json
    assert [d["id"] for d in succeeded["items"]] == [again.json["id"]]
    assert len(receiver.received) == 3
    assert verify(receiver.received[-1], created["secret"])
    assert receiver.received[-1].headers["Loyalty-Event-Id"] == failed["event_id"]
