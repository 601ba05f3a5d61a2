"""The one way a vendor's webhook is received, whichever the vendor.

1. The connector named in the URL, active and of that vendor (404 otherwise).
2. The vendor's own signature over the raw body, against every signing
   secret of the connector valid now (401 ``bad_signature``/``stale_request``);
   nothing is parsed before it matches.
3. The vendor's event id: a delivery already stored answers 200
   ``duplicate`` and changes nothing; a new one is stored with a job in the
   outbox, in one transaction, and answers 202 at once. The job maps and records it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from loyalty.connectors import deliveries
from loyalty.connectors.models import Connector
from loyalty.errors import NotFound, ValidationFailed
from loyalty.outbox import services as outbox
from loyalty.text import usable_id
from pos_plugins.common.jobs import process_connector_event
from web.extensions import db


@dataclass(frozen=True)
class Delivery:
    """What a vendor's receiver reads from a verified delivery before storing it."""

    event_id: str
    topic: str
    account: str | None = None  # the shop, seller or database it comes from, checked against the connector's
    wanted: bool = True  # False: acknowledged and not stored (a topic or state there is nothing to record for)


Verify = Callable[[Connector, list[str], bytes, Mapping[str, str]], None]
Identify = Callable[[dict[str, Any], Mapping[str, str]], Delivery]

REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


def parse_payload(raw: bytes) -> dict[str, Any]:
    """A JSON object whose numbers with a fraction are exact decimals, never floats."""
    try:
        payload = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except ValueError:
        raise ValidationFailed("The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("The webhook body is not a JSON object.")
    return payload


def receive(vendor: str, connector_id: str, *, verify: Verify, identify: Identify) -> tuple[dict[str, Any], int]:
    """Check, deduplicate and queue one delivery; the answer and its status."""
    connector = deliveries.webhook_connector(db.session, connector_id, vendor)
    raw = request.get_data(cache=True)
    verify(connector, deliveries.signing_secrets(db.session, connector.id), raw, request.headers)
    delivery = identify(parse_payload(raw), request.headers)
    if connector.account and delivery.account and delivery.account.casefold() != connector.account.casefold():
        raise ValidationFailed(
            f"This delivery is from {delivery.account!r}; the connector is for {connector.account!r}.",
            errors={"account": ["Not this connector's account."]},
        )
    if not delivery.wanted:
        db.session.rollback()
        return {"status": "ignored", "id": None}, 200
    event, created = deliveries.receive_event(
        db.session,
        connector=connector,
        vendor_event_id=delivery.event_id,
        topic=delivery.topic,
        payload=raw.decode("utf-8"),
    )
    if created:
        outbox.add_task(db.session, process_connector_event, event_id=event.id)
    db.session.commit()
    return {"status": "accepted" if created else "duplicate", "id": event.id}, 202 if created else 200


class WebhookAnswerSchema(ma.Schema):
    status = fields.String(
        metadata={
            "enum": ["accepted", "duplicate", "ignored"],
            "description": "`accepted`: stored and queued; `duplicate`: this event id was received before and "
            "nothing changed; `ignored`: nothing to record for this topic or state.",
        }
    )
    id = fields.String(
        allow_none=True, metadata={"description": "The stored delivery, in `GET /connectors/{id}/events`."}
    )


def webhook_blueprint(
    vendor: str, *, security: dict[str, Any], description: str, summary: str, verify: Verify, identify: Identify
) -> Blueprint:
    """The blueprint of one vendor's receiver: ``POST /pos-webhooks/<vendor>/{connector_id}``.

    ``security`` is the OpenAPI security scheme that documents the vendor's signature.
    """
    blp = Blueprint(
        f"{vendor}_webhooks",
        f"pos_plugins.{vendor}.receiver",
        url_prefix=f"/pos-webhooks/{vendor}",
        description=description,
    )
    scheme = f"{vendor}Signature"

    @blp.route("/<connector_id>")
    class WebhookView(MethodView):
        @blp.doc(
            summary=summary,
            description=(
                f"The URL to paste in {vendor.title()}'s webhook settings. Checks the signature, stores the delivery "
                "once by the vendor's event id and answers at once; the purchase or return is recorded in the "
                "background (see the connector's events). 404 for an unknown or disabled connector, 401 "
                "`bad_signature` (or `stale_request`) for a signature that does not match."
            ),
            security=[{scheme: []}],
            requestBody=REQUEST_BODY,
        )
        @blp.response(202, WebhookAnswerSchema, description="Stored and queued.")
        @blp.alt_response(200, schema=WebhookAnswerSchema, description="A duplicate or a topic with nothing to record.")
        def post(self, connector_id):
            if not usable_id(connector_id):
                raise NotFound("No such connector.")
            return receive(vendor, connector_id, verify=verify, identify=identify)

    blp.security_scheme = (scheme, security)  # registered with the API document by wsgi.py
    return blp
