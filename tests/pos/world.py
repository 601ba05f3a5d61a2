"""A program, a partner merchant with stores, and its POS connected through the API, for the webhook tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from loyalty.connectors.models import ConnectorEvent
from loyalty.ledger.models import LedgerEntry
from loyalty.outbox.models import OutboxMessage
from loyalty.purchases.models import Purchase, PurchaseReturn
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant, make_merchant_key, make_store


@dataclass
class Shop:
    admin: str
    merchant_key: str
    merchant_id: str
    store_id: str
    other_store_id: str


def open_shop(client, db_session, *, currency: str) -> Shop:
    """A program in ``currency`` earning 1 point per 100 minor units at once, and a merchant with two stores."""
    admin = make_key(db_session, "admin")
    changed = client.patch("/api/v1/program", json={"currency": currency, "pending_days": 0}, headers=bearer(admin))
    assert changed.status_code == 200, changed.json
    rule = client.post(
        "/api/v1/rules",
        json={"name": "One point per 100", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        headers=bearer(admin),
    )
    assert rule.status_code == 201, rule.json
    assert client.post(f"/api/v1/rules/{rule.json['id']}/activate", headers=bearer(admin)).status_code == 200
    merchant = make_merchant(db_session)
    return Shop(
        admin=admin,
        merchant_key=make_merchant_key(db_session, merchant.id),
        merchant_id=merchant.id,
        store_id=make_store(db_session, merchant.id).id,
        other_store_id=make_store(db_session, merchant.id).id,
    )


def connect(client, shop: Shop, **body) -> dict:
    created = client.post(
        f"/api/v1/merchants/{shop.merchant_id}/connectors", json=body, headers=bearer(shop.merchant_key)
    )
    assert created.status_code == 201, created.json
    return created.json


def webhook_path(connector: dict) -> str:
    return connector["webhook_url"].split("localhost", 1)[1]


def balance(client, shop: Shop, member_id: str) -> dict:
    return client.get(f"/api/v1/members/{member_id}", headers=bearer(shop.admin)).json["balance"]


def events(client, shop: Shop, connector: dict) -> list[dict]:
    return client.get(f"/api/v1/connectors/{connector['id']}/events", headers=bearer(shop.merchant_key)).json["items"]


def counts(db_session) -> dict[str, int]:
    """Everything a delivery can change, counted."""
    db_session.expire_all()
    return {
        model.__tablename__: db_session.scalar(select(func.count()).select_from(model))
        for model in (ConnectorEvent, OutboxMessage, Purchase, PurchaseReturn, LedgerEntry)
    }
