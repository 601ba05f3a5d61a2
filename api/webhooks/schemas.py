from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from loyalty.webhooks.services import DELIVERY_STATUSES, EVENT_TYPES


class WebhookCreateSchema(Schema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "An https URL on a public host (redirects are not followed)."},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": f"The event types sent there: some of {', '.join(EVENT_TYPES)}."},
    )
    description = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200), metadata={"description": "A note."}
    )


class WebhookSchema(Schema):
    id = fields.String()
    merchant_id = fields.String()
    url = fields.String()
    events = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}))
    description = fields.String(allow_none=True)
    previous_secret_valid_until = Timestamp(
        allow_none=True,
        metadata={"description": "After a rotation: until when deliveries also carry a signature by the old secret."},
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class CreatedWebhookSchema(WebhookSchema):
    secret = fields.String(
        metadata={"description": "The signing secret (HMAC-SHA256 key): shown in this answer only, kept encrypted."}
    )


class WebhookRotateSchema(Schema):
    grace_hours = StrictInteger(
        load_default=24,
        validate=validate.Range(min=0, max=720),
        metadata={"description": "How long deliveries also carry a signature by the old secret (default 24; 0: none)."},
    )


class WebhookRotatedSchema(Schema):
    webhook_id = fields.String()
    secret = fields.String(metadata={"description": "The new secret: shown in this answer only."})
    previous_valid_until = Timestamp(metadata={"description": "Until when the old secret also signs deliveries."})


class DeliverySchema(Schema):
    id = fields.String()
    webhook_id = fields.String()
    event_id = fields.String(metadata={"description": "Sent as Loyalty-Event-Id; the same on every redelivery."})
    event_type = fields.String(metadata={"enum": list(EVENT_TYPES)})
    status = fields.String(
        metadata={
            "enum": list(DELIVERY_STATUSES),
            "description": "`pending` (not tried yet, or waiting for the retry at `next_attempt_at`), `succeeded` "
            "(a 2xx answer), `failed` (every attempt failed) or `cancelled` (the subscription was deleted).",
        }
    )
    attempts = StrictInteger()
    response_code = StrictInteger(allow_none=True, metadata={"description": "The last attempt's HTTP status."})
    last_error = fields.String(allow_none=True)
    redelivery_of = fields.String(allow_none=True, metadata={"description": "The delivery this one sends again."})
    created_at = Timestamp()
    last_attempt_at = Timestamp(allow_none=True)
    next_attempt_at = Timestamp(allow_none=True)
    delivered_at = Timestamp(allow_none=True)


class DeliveryDetailSchema(DeliverySchema):
    event = fields.Dict(metadata={"description": "The event as sent: `{id, type, created_at, data}`."})


class DeliveryListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(DELIVERY_STATUSES))
    event_type = fields.String(load_default=None, validate=validate.OneOf(EVENT_TYPES))


WebhookPage = page_schema(WebhookSchema, "WebhookPage")
DeliveryPage = page_schema(DeliverySchema, "DeliveryPage")


def webhook_body(subscription) -> dict:
    return {
        "id": subscription.id,
        "merchant_id": subscription.merchant_id,
        "url": subscription.url,
        "events": list(subscription.events),
        "description": subscription.description,
        "previous_secret_valid_until": subscription.previous_secret_expires_at
        if subscription.previous_secret_encrypted
        else None,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def delivery_body(delivery) -> dict:
    body = {name: getattr(delivery, name) for name in DeliverySchema().fields if name != "webhook_id"}
    return body | {"webhook_id": delivery.subscription_id}
