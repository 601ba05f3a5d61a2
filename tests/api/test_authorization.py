"""Who may call what, over every operation the served OpenAPI document lists.

No key is 401; a key whose role an operation does not allow is 403; another
merchant's object is 404 and stays as it was. The roles come from the
document itself (``x-roles``), so a new endpoint is covered the day it is
added.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.connectors.models import Connector, ConnectorSecret
from loyalty.connectors.services import create_connector
from loyalty.earning.models import RuleVersion
from loyalty.ledger.models import LedgerEntry
from loyalty.merchants.models import Merchant, Store, Terminal, TerminalSecret
from loyalty.purchases.models import PurchaseReturn
from loyalty.rewards.models import Redemption, Reward
from loyalty.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_application, make_store, make_terminal, make_till, signed_headers
from tests.factories_purchases import buy
from tests.factories_rewards import give_points, make_reward, redeem

ROLES = ("admin", "marketer", "merchant", "terminal")

# A body each writing operation accepts, so that a refusal cannot come from validation.
BODIES = {
    ("post", "/api/v1/keys"): {"name": "k", "role": "marketer"},
    ("patch", "/api/v1/program"): {"name": "Renamed"},
    ("post", "/api/v1/members"): {"email": "matrix@example.com"},
    ("patch", "/api/v1/members/{member_id}"): {"name": "Renamed"},
    ("patch", "/api/v1/merchants/{merchant_id}"): {"name": "Taken over"},
    ("post", "/api/v1/merchants/{merchant_id}/stores"): {"name": "Intruder", "timezone": "UTC"},
    ("post", "/api/v1/stores/{store_id}/terminals"): {"name": "Intruder"},
    ("post", "/api/v1/merchants/applications/{application_id}/reject"): {"note": "no"},
    ("post", "/api/v1/rules"): {"name": "Matrix bonus", "effect": {"type": "bonus", "points": 1}},
    ("patch", "/api/v1/rules/{rule_id}"): {"name": "Renamed"},
    ("post", "/api/v1/purchases/quote"): {"currency": "EUR", "total_minor": 100, "items": []},
    ("post", "/api/v1/purchases"): {"external_id": "M-1", "currency": "EUR", "total_minor": 100, "items": []},
    ("post", "/api/v1/purchases/batch"): {
        "purchases": [{"external_id": "M-B1", "currency": "EUR", "total_minor": 100, "items": []}]
    },
    ("post", "/api/v1/purchases/{purchase_id}/returns"): {"external_id": "M-R1", "amount_minor": 1},
    ("post", "/api/v1/members/{member_id}/claims"): {"claim_code": "AAAAA-AAAAA"},
    ("post", "/api/v1/rewards"): {"name": "Matrix reward", "points_cost": 10},
    ("patch", "/api/v1/rewards/{reward_id}"): {"name": "Renamed"},
    ("post", "/api/v1/redemptions"): {"member_id": "mbr_01MATRIX", "points": 100, "idempotency_key": "M-1"},
    ("post", "/api/v1/redemptions/use"): {"code": "AAAA-AAAA-AAAA"},
    ("post", "/api/v1/merchants/{merchant_id}/webhooks"): {
        "url": "https://partner.example.com/hooks",
        "events": ["points.earned"],
    },
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"): {"grace_hours": 1},
    ("post", "/api/v1/merchants/{merchant_id}/connectors"): {"vendor": "odoo", "name": "Intruder"},
    ("patch", "/api/v1/connectors/{connector_id}"): {"name": "Renamed"},
    ("post", "/api/v1/connectors/{connector_id}/rotate-secret"): {},
}
VENDOR_SIGNED = [
    ("post", "/api/v1/pos-webhooks/odoo/{connector_id}"),
    ("post", "/api/v1/pos-webhooks/shopify/{connector_id}"),
    ("post", "/api/v1/pos-webhooks/square/{connector_id}"),
]


def operations(client):
    document = client.get("/api/v1/openapi.json").json
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


@pytest.fixture()
def world(client, db_session):
    """Merchant A with a store, a terminal and its application; keys of every role, some of merchant B."""
    merchant_a, store_a, terminal_a, terminal_key, signing_secret = make_till(db_session)
    application = make_application(db_session)
    merchant_b, _store_b, _terminal_b, _key_b, _secret_b = make_till(db_session)
    return {
        "ids": {
            "merchant_id": merchant_a.id,
            "store_id": store_a.id,
            "terminal_id": terminal_a.id,
            "application_id": application.id,
            "member_id": make_member(db_session).id,
            "key_id": "key_01MATRIX",
            "notification_id": "ntf_01MATRIX",
            "statement_id": "stm_01MATRIX",
        },
        "keys": {
            "admin": make_key(db_session, "admin"),
            "marketer": make_key(db_session, "marketer"),
            "merchant": make_key(db_session, "merchant", merchant_id=merchant_a.id),
            "terminal": terminal_key,
        },
        "signing_secret": signing_secret,
        "merchant_b_key": make_key(db_session, "merchant", merchant_id=merchant_b.id),
        "merchant_a": merchant_a,
    }


def call(client, method, path, *, key=None, body=None, signing_secret=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = bearer(key) if key else {}
    if signing_secret:
        headers |= signed_headers(signing_secret, method.upper(), path, data)
    return client.open(path, method=method.upper(), data=data or None, content_type="application/json", headers=headers)


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x_unknown"), path)


def is_vendor_signed(operation) -> bool:
    """A vendor's webhook: signed with the vendor's scheme instead of carrying a key."""
    return bool(operation.get("security")) and not any("bearerAuth" in option for option in operation["security"])


def is_public(operation) -> bool:
    """No security requirement, or an optional one (``{}`` among the alternatives)."""
    return not operation.get("security") or {} in operation["security"]


def test_every_operation_needs_a_key_except_the_public_ones(client, world):
    public, signed = [], []
    for method, path, operation in operations(client):
        response = call(client, method, fill(path, world["ids"]), body=BODIES.get((method, path), {}))
        if is_vendor_signed(operation):
            signed.append((method, path))
            continue
        if is_public(operation):
            public.append((method, path))
            assert response.status_code != 401, (method, path, response.json)
            continue
        assert response.status_code == 401, (method, path, response.json)
        assert response.json["reason"] == "unauthenticated"
    # Open to anyone: applying to join, and the rewards and tiers the members' portal shows.
    assert sorted(public) == [
        ("get", "/api/v1/rewards"),
        ("get", "/api/v1/tiers"),
        ("post", "/api/v1/merchants/applications"),
    ]
    assert sorted(signed) == VENDOR_SIGNED


@pytest.mark.parametrize("vendor", ["shopify", "square", "odoo"])
def test_a_vendor_webhook_without_the_vendors_signature_is_unauthenticated_whatever_key_it_carries(
    client, db_session, world, vendor
):
    connector, _secret = create_connector(
        db_session,
        merchant_id=world["merchant_a"].id,
        vendor=vendor,
        name="Matrix",
        signing_secret=None if vendor == "odoo" else "vendor-secret-1",
        actor=cli_actor(),
    )
    db_session.commit()
    for key in (None, world["keys"]["admin"]):
        response = call(client, "post", f"/api/v1/pos-webhooks/{vendor}/{connector.id}", key=key, body={})
        assert response.status_code == 401, response.json
        assert response.json["reason"] == "bad_signature"


@pytest.mark.parametrize("role", ROLES)
def test_a_role_outside_an_operations_roles_is_forbidden(client, world, role):
    checked = 0
    for method, path, operation in operations(client):
        if not operation.get("security") or is_vendor_signed(operation) or role in operation["x-roles"]:
            continue
        secret = world["signing_secret"] if role == "terminal" else None
        response = call(
            client,
            method,
            fill(path, world["ids"]),
            key=world["keys"][role],
            body=BODIES.get((method, path), {}),
            signing_secret=secret,
        )
        assert response.status_code == 403, (role, method, path, response.json)
        assert response.json["reason"] == "forbidden"
        checked += 1
    assert checked > 0 or role == "admin"


def test_admin_may_call_every_operation(client, world):
    for _method, _path, operation in operations(client):
        assert not operation.get("security") or is_vendor_signed(operation) or "admin" in operation["x-roles"]


MERCHANT_OWNED = (
    "merchant_id",
    "store_id",
    "terminal_id",
    "application_id",
    "purchase_id",
    "rule_id",
    "reward_id",
    "redemption_id",
    "statement_id",
    "webhook_id",
    "delivery_id",
    "connector_id",
)


def close_this_month(session, merchant_id):
    """The merchant's statement of this month, closed with a clock set after the month's end."""
    from datetime import UTC, datetime, timedelta

    from loyalty.actors import cli_actor
    from loyalty.settlement.statements import close_statement, month_start, next_month

    period = month_start(datetime.now(UTC).date())
    following = next_month(period)
    statement = close_statement(
        session,
        merchant_id=merchant_id,
        period_start=period,
        actor=cli_actor(),
        now=datetime(following.year, following.month, 1, tzinfo=UTC) + timedelta(days=2),
    )
    session.commit()
    return statement


def test_another_merchants_objects_are_not_found_and_stay_unchanged(client, db_session, world):
    def state():
        db_session.expire_all()
        return (
            db_session.get(Merchant, world["ids"]["merchant_id"]).name,
            db_session.scalar(select(func.count()).select_from(Store)),
            db_session.scalar(select(func.count()).select_from(Terminal)),
            db_session.scalar(select(func.count()).select_from(TerminalSecret)),
            db_session.scalar(select(func.count()).select_from(AuditEvent)),
            db_session.scalar(select(func.count()).select_from(PurchaseReturn)),
            db_session.scalar(select(func.count()).select_from(LedgerEntry)),
            db_session.scalar(select(func.count()).select_from(RuleVersion)),
            db_session.scalar(select(func.count()).select_from(Redemption)),
            [(w.id, w.deleted_at, w.secret_encrypted) for w in db_session.scalars(select(WebhookSubscription))],
            db_session.scalar(select(func.count()).select_from(WebhookDelivery)),
            [(c.name, c.status, c.locations) for c in db_session.scalars(select(Connector).order_by(Connector.id))],
            db_session.scalar(select(func.count()).select_from(ConnectorSecret)),
            [(r.name, r.status, r.issued) for r in db_session.scalars(select(Reward).order_by(Reward.id))],
        )

    # Merchant A's application must have been approved into merchant A to be A's.
    application = world["ids"]["application_id"]
    approved = client.post(
        f"/api/v1/merchants/applications/{application}/approve", headers=bearer(world["keys"]["admin"])
    )
    assert approved.status_code == 201
    ids = {**world["ids"], "merchant_id": approved.json["merchant_id"]}
    owner_key = approved.json["api_key"]
    store = make_store(db_session, ids["merchant_id"])
    terminal, _key, _secret = make_terminal(db_session, store.id)
    ids |= {"store_id": store.id, "terminal_id": terminal.id}
    rule = client.post(
        "/api/v1/rules", json={"name": "A's own", "effect": {"type": "bonus", "points": 5}}, headers=bearer(owner_key)
    )
    assert rule.status_code == 201, rule.json
    ids["rule_id"] = rule.json["id"]
    webhook = client.post(
        f"/api/v1/merchants/{ids['merchant_id']}/webhooks",
        json={"url": "https://partner.example.com/hooks", "events": ["points.earned"]},
        headers=bearer(owner_key),
    )
    assert webhook.status_code == 201, webhook.json
    ids["webhook_id"] = webhook.json["id"]
    ids["purchase_id"] = buy(db_session, store, member=make_member(db_session)).receipt["id"]
    ids["delivery_id"] = db_session.scalar(select(WebhookDelivery.id))
    assert ids["delivery_id"] is not None
    reward = make_reward(db_session, points_cost=10, merchant_id=ids["merchant_id"])
    ids["reward_id"] = reward.id
    member = make_member(db_session)
    give_points(db_session, member, 10)
    ids["redemption_id"] = redeem(db_session, member, reward).receipt["id"]
    ids["statement_id"] = close_this_month(db_session, ids["merchant_id"]).id
    connector, _secret = create_connector(
        db_session, merchant_id=ids["merchant_id"], vendor="odoo", name="A's Odoo", actor=cli_actor()
    )
    db_session.commit()
    ids["connector_id"] = connector.id

    before = state()
    checked = []
    for method, path, operation in operations(client):
        names = re.findall(r"\{(\w+)\}", path)
        if not names or not set(names) <= set(MERCHANT_OWNED) or "merchant" not in operation.get("x-roles", []):
            continue
        url = fill(path, ids)
        body = BODIES.get((method, path), {})
        if method == "get":
            # The owner reads it, so the 404 below is about who asks, not about what exists.
            assert call(client, method, url, key=owner_key).status_code == 200, (method, path)
        response = call(client, method, url, key=world["merchant_b_key"], body=body)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["reason"] == "not_found"
        checked.append((method, path))
    assert state() == before
    assert len(checked) >= 25
