"""Shopify's webhooks: ``orders/create``, ``orders/paid`` (and ``orders/updated``), ``refunds/create``.

Shopify signs the raw body: ``X-Shopify-Hmac-Sha256`` is the base64
HMAC-SHA256 of it under the app's client secret (or the secret shown under
Settings > Notifications > Webhooks for webhooks made there). Each delivery
carries ``X-Shopify-Event-Id`` (and ``X-Shopify-Webhook-Id``, the same across
Shopify's retries), ``X-Shopify-Topic`` and ``X-Shopify-Shop-Domain``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from loyalty.connectors.models import Connector
from loyalty.errors import ValidationFailed
from pos_plugins.common import signatures
from pos_plugins.common.inputs import Mapped, Skip
from pos_plugins.common.receiver import Delivery, webhook_blueprint
from pos_plugins.shopify import mapping

ORDER_TOPICS = frozenset({"orders/create", "orders/paid", "orders/updated"})
REFUND_TOPICS = frozenset({"refunds/create"})
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"


def verify(connector: Connector, secrets: list[str], raw: bytes, headers: Mapping[str, str]) -> None:
    signatures.verify_base64(SIGNATURE_HEADER, headers.get(SIGNATURE_HEADER), secrets, raw)


def identify(payload: dict[str, Any], headers: Mapping[str, str]) -> Delivery:
    topic = (headers.get("X-Shopify-Topic") or "").strip()
    event_id = (headers.get("X-Shopify-Event-Id") or headers.get("X-Shopify-Webhook-Id") or "").strip()
    if not event_id or len(event_id) > 200 or not event_id.isprintable():
        raise ValidationFailed("X-Shopify-Event-Id or X-Shopify-Webhook-Id is required.")
    if not topic or len(topic) > 100:
        raise ValidationFailed("X-Shopify-Topic is required.")
    return Delivery(
        event_id=event_id,
        topic=topic,
        account=(headers.get("X-Shopify-Shop-Domain") or "").strip().lower() or None,
        wanted=topic in ORDER_TOPICS | REFUND_TOPICS,
    )


def translate(session: Session, connector: Connector, topic: str, payload: dict[str, Any]) -> Mapped:
    """A stored delivery as a purchase, a return, or nothing to record."""
    if topic in ORDER_TOPICS:
        return mapping.map_order(payload)
    if topic in REFUND_TOPICS:
        return mapping.map_refund(payload)
    return Skip("unhandled_topic", f"Nothing is recorded for {topic}.")


blp = webhook_blueprint(
    "shopify",
    security={
        "type": "apiKey",
        "in": "header",
        "name": SIGNATURE_HEADER,
        "description": "Base64 HMAC-SHA256 of the raw body under the connector's Shopify secret.",
    },
    summary="Receive a Shopify webhook (orders/create, orders/paid, orders/updated, refunds/create).",
    description="Shopify webhooks: paid orders become purchases, refunds become returns.",
    verify=verify,
    identify=identify,
)
