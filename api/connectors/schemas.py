from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from loyalty.connectors.deliveries import EVENT_STATUSES
from loyalty.connectors.services import MAX_GRACE_HOURS, STATUSES, VENDORS

_SECRET = {"validate": validate.Length(min=8, max=500), "load_only": True}


class ConnectorSchema(Schema):
    id = fields.String()
    merchant_id = fields.String()
    vendor = fields.String(metadata={"enum": list(VENDORS)})
    name = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    account = fields.String(
        allow_none=True,
        metadata={
            "description": "The Shopify shop domain, Square merchant id or Odoo database; when set, deliveries "
            "from another are refused."
        },
    )
    default_store_id = fields.String(allow_none=True, metadata={"description": "Where unmapped locations' sales go."})
    locations = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "The vendor's location id (Shopify location_id, Square location_id, Odoo config_id) "
            "-> store id."
        },
    )
    settings = fields.Dict(
        metadata={
            "description": "Square: `environment` (production or sandbox) and `notification_url` (the exact URL "
            "entered in Square)."
        }
    )
    has_api_token = fields.Boolean(
        metadata={"description": "Whether a token to read orders from the vendor's API is set (Square)."}
    )
    webhook_url = fields.String(metadata={"description": "The URL to paste in the vendor's webhook settings."})
    created_at = Timestamp()
    updated_at = Timestamp()


class ConnectorCreateSchema(Schema):
    vendor = fields.String(required=True, validate=validate.OneOf(VENDORS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    signing_secret = fields.String(
        metadata={
            "description": "Shopify: the app's client secret (or the webhooks' signing key); Square: the "
            "subscription's signature key. Odoo: leave out, the service makes one. Never shown again."
        },
        **_SECRET,
    )
    api_token = fields.String(
        metadata={
            "description": "Square: an access token with ORDERS_READ, CUSTOMERS_READ and PAYMENTS_READ, to read "
            "orders. Never shown again."
        },
        **_SECRET,
    )
    account = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    default_store_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    locations = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)), values=fields.String(), load_default=dict
    )
    settings = fields.Dict(load_default=dict)


class CreatedConnectorSchema(ConnectorSchema):
    signing_secret = fields.String(
        metadata={"description": "Odoo only: the secret to sign deliveries with, shown in this answer only."}
    )


class ConnectorPatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "`disabled` refuses deliveries (404)."}
    )
    account = fields.String(allow_none=True, validate=validate.Length(max=200))
    default_store_id = fields.String(allow_none=True, validate=validate.Length(max=64))
    locations = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), values=fields.String())
    settings = fields.Dict()
    api_token = fields.String(
        allow_none=True,
        metadata={"description": "A new token for the vendor's API (null removes it). Never shown again."},
        **_SECRET,
    )


class ConnectorListArgs(PageArgs):
    merchant_id = fields.String(load_default=None, validate=validate.Length(max=64))


class ConnectorRotateSchema(Schema):
    signing_secret = fields.String(
        metadata={
            "description": "Shopify and Square: the new secret, after rotating it at the vendor. Odoo: leave out."
        },
        **_SECRET,
    )
    grace_hours = StrictInteger(
        load_default=None,
        validate=validate.Range(min=0, max=MAX_GRACE_HOURS),
        metadata={
            "description": "How long the old secrets stay valid (default: SIGNING_SECRET_GRACE_HOURS); 0 ends "
            "them at once."
        },
    )


class ConnectorRotatedSchema(Schema):
    connector_id = fields.String()
    signing_secret = fields.String(
        allow_none=True, metadata={"description": "Odoo only: the new secret, shown in this answer only."}
    )
    previous_valid_until = Timestamp()


class ConnectorEventSchema(Schema):
    id = fields.String()
    connector_id = fields.String()
    vendor_event_id = fields.String(metadata={"description": "The vendor's event id the delivery is deduplicated by."})
    topic = fields.String()
    status = fields.String(metadata={"enum": list(EVENT_STATUSES)})
    reason = fields.String(allow_none=True, metadata={"description": "Why it was ignored or rejected (snake_case)."})
    detail = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True, metadata={"description": "The purchase's or return's external_id."})
    purchase_id = fields.String(allow_none=True)
    return_id = fields.String(allow_none=True)
    claim_code = fields.String(
        allow_none=True, metadata={"description": "An anonymous purchase's code, for the shopper to claim its points."}
    )
    received_at = Timestamp()
    processed_at = Timestamp(allow_none=True)


class ConnectorEventListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(EVENT_STATUSES))


ConnectorPage = page_schema(ConnectorSchema, "ConnectorPage")
ConnectorEventPage = page_schema(ConnectorEventSchema, "ConnectorEventPage")
