from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema

TERMINAL_STATUSES = ["active", "revoked"]


class TerminalSchema(Schema):
    id = fields.String()
    store_id = fields.String()
    merchant_id = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "`active` or `revoked` (its key and secrets no longer work)."})
    created_at = Timestamp()


class TerminalCreateSchema(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Such as Till 1."}
    )


class CreatedTerminalSchema(TerminalSchema):
    api_key = fields.String(
        metadata={"description": "The terminal's key (role `terminal`): shown in this answer only."}
    )
    signing_secret = fields.String(
        metadata={
            "description": "The HMAC-SHA256 key for X-Loyalty-Signature: shown in this answer only, kept encrypted."
        }
    )


class TerminalListArgs(PageArgs):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(TERMINAL_STATUSES),
        metadata={"description": "Only terminals with this status."},
    )


class RotateSchema(Schema):
    grace_hours = StrictInteger(
        load_default=None,
        validate=validate.Range(min=0, max=720),
        metadata={
            "description": "How long the old secrets stay valid (default: the service's SIGNING_SECRET_GRACE_HOURS). "
            "0 ends them at once, for a leaked secret."
        },
    )


class RotatedSchema(Schema):
    terminal_id = fields.String()
    signing_secret = fields.String(metadata={"description": "The new secret: shown in this answer only."})
    previous_valid_until = Timestamp(metadata={"description": "Until when the old secrets are still accepted."})


TerminalPage = page_schema(TerminalSchema, "TerminalPage")
