"""Odoo Point of Sale deliveries, posted by an automated action on ``pos.order``.

Odoo has no webhook signature of its own, so deliveries are signed exactly
as terminal requests are (API.md): ``X-Loyalty-Timestamp: <unix seconds>``
and ``X-Loyalty-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.POST.<path>.<raw body>")>``, the secret being the one the
connector made. A timestamp more than 300 s away is refused, so a captured
delivery cannot be replayed later. The event id is the order's ``uuid`` (or
``pos_reference``) with its ``state``: an order sent again as it moves from
paid to done is recognised, and its paid delivery is never mistaken for an earlier draft.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from loyalty.connectors.models import Connector
from loyalty.errors import ValidationFailed
from loyalty.merchants.signing import verify_signature
from pos_plugins.common.inputs import Mapped, MappingError
from pos_plugins.common.receiver import Delivery, webhook_blueprint
from pos_plugins.odoo import mapping
from web.http import path_with_query


def verify(connector: Connector, secrets: list[str], raw: bytes, headers: Mapping[str, str]) -> None:
    verify_signature(
        secrets,
        timestamp=headers.get("X-Loyalty-Timestamp"),
        signature=headers.get("X-Loyalty-Signature"),
        method="POST",
        path_with_query=path_with_query(),
        body=raw,
        now=time.time(),
    )


def identify(payload: dict[str, Any], headers: Mapping[str, str]) -> Delivery:
    order = payload.get("order")
    database = payload.get("database")
    if not isinstance(order, dict):
        raise ValidationFailed("The delivery has no order.", errors={"order": ["Required."]})
    try:
        reference = mapping.order_reference(order)
    except MappingError as exc:
        raise ValidationFailed(str(exc), errors={"order": ["uuid or pos_reference required."]}) from None
    state = order.get("state") if isinstance(order.get("state"), str) else "unknown"
    return Delivery(
        event_id=f"{reference}:{state[:40]}",
        topic="pos.order",
        account=database if isinstance(database, str) else None,
    )


def translate(session: Session, connector: Connector, topic: str, payload: dict[str, Any]) -> Mapped:
    """A stored delivery as a purchase, a return (a refund order), or nothing to record."""
    return mapping.map_order(payload)


blp = webhook_blueprint(
    "odoo",
    security={
        "type": "apiKey",
        "in": "header",
        "name": "X-Loyalty-Signature",
        "description": (
            'v1=<hex HMAC-SHA256(connector secret, "<X-Loyalty-Timestamp>.POST.<path>.<raw body>")>, as terminals sign.'
        ),
    },
    summary="Receive an Odoo Point of Sale order (a paid order or a refund).",
    description="Odoo Point of Sale: paid orders become purchases, refund orders become returns.",
    verify=verify,
    identify=identify,
)
