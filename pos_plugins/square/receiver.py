"""Square's webhooks: ``order.created``/``order.updated`` of a COMPLETED order, ``refund.created``/``refund.updated``.

Square signs the notification URL followed by the raw body:
``x-square-hmacsha256-signature`` is the base64 HMAC-SHA256 of
``notification_url + body`` under the subscription's signature key. The URL
must be exactly the one entered in Square (the connector keeps it). Each
event carries its own ``event_id`` (Square's idempotency value), its
``type`` and the seller's ``merchant_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, request
from sqlalchemy.orm import Session

from loyalty.connectors import deliveries
from loyalty.connectors.models import Connector
from loyalty.errors import ValidationFailed
from pos_plugins.common import signatures
from pos_plugins.common.inputs import Mapped, MappingError, Skip, as_dict, text
from pos_plugins.common.jobs import VendorRefused
from pos_plugins.common.receiver import Delivery, webhook_blueprint
from pos_plugins.square import mapping
from pos_plugins.square.api import SquareApi

ORDER_TYPES = frozenset({"order.created", "order.updated"})
REFUND_TYPES = frozenset({"refund.created", "refund.updated"})
SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def notification_url(connector: Connector) -> str:
    """The URL Square signs: the one the connector keeps, else the one this request came to."""
    return (connector.settings or {}).get("notification_url") or request.url


def verify(connector: Connector, secrets: list[str], raw: bytes, headers: Mapping[str, str]) -> None:
    signatures.verify_base64(
        SIGNATURE_HEADER, headers.get(SIGNATURE_HEADER), secrets, notification_url(connector).encode() + raw
    )


def _object(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return data.get("object") if isinstance(data.get("object"), dict) else {}


def identify(payload: dict[str, Any], headers: Mapping[str, str]) -> Delivery:
    event_id = payload.get("event_id")
    kind = payload.get("type")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise ValidationFailed("The event has no event_id.", errors={"event_id": ["Required."]})
    if not isinstance(kind, str) or not kind or len(kind) > 100:
        raise ValidationFailed("The event has no type.", errors={"type": ["Required."]})
    body = _object(payload)
    if kind in ORDER_TYPES:
        state = (body.get("order_created") or body.get("order_updated") or {}).get("state")
        wanted = state == "COMPLETED"
    elif kind in REFUND_TYPES:
        wanted = (body.get("refund") or {}).get("status") == "COMPLETED"
    else:
        wanted = False
    merchant = payload.get("merchant_id")
    return Delivery(
        event_id=event_id.strip(), topic=kind, account=merchant if isinstance(merchant, str) else None, wanted=wanted
    )


def _api(session: Session, connector: Connector) -> SquareApi | None:
    token = deliveries.api_token(session, connector.id)
    if token is None:
        return None
    sandbox = (connector.settings or {}).get("environment") == "sandbox"
    return SquareApi(current_app.config["SQUARE_SANDBOX_API_URL" if sandbox else "SQUARE_API_URL"], token)


def translate(session: Session, connector: Connector, topic: str, payload: dict[str, Any]) -> Mapped:
    """A stored event as a purchase (the order read from Square), a return, or nothing to record."""
    body = _object(payload)
    if topic in ORDER_TYPES:
        summary = as_dict(body.get("order_created") or body.get("order_updated"), "data.object.order_updated")
        order_id = text(summary.get("order_id"), "order_id", longest=60)
        api = _api(session, connector)
        if api is None:
            raise VendorRefused("The connector has no Square access token to read the order with (set api_token).")
        order = api.order(order_id)
        customer = api.customer(order["customer_id"]) if isinstance(order.get("customer_id"), str) else None
        return mapping.map_order(order, customer)
    if topic in REFUND_TYPES:
        refund = as_dict(body.get("refund"), "data.object.refund")
        api = _api(session, connector)
        payment_id = refund.get("payment_id")
        payment = api.payment(payment_id) if api is not None and isinstance(payment_id, str) else None
        return mapping.map_refund(refund, payment)
    if not body:
        raise MappingError("The event has no data.object.")
    return Skip("unhandled_topic", f"Nothing is recorded for {topic}.")


blp = webhook_blueprint(
    "square",
    security={
        "type": "apiKey",
        "in": "header",
        "name": SIGNATURE_HEADER,
        "description": (
            "Base64 HMAC-SHA256 of the notification URL followed by the raw body, under the subscription's "
            "signature key."
        ),
    },
    summary="Receive a Square webhook (order.created, order.updated, refund.created, refund.updated).",
    description="Square webhooks: completed orders become purchases, completed refunds become returns.",
    verify=verify,
    identify=identify,
)
