from marshmallow import fields, validate

from api.common import PageArgs, Schema, Timestamp, page_schema
from loyalty.actors import Role

STAFF_ROLES = [Role.ADMIN.value, Role.MARKETER.value, Role.MERCHANT.value]


class KeySchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String()
    role = fields.String()
    hint = fields.String(metadata={"description": "The secret's last four characters."})
    merchant_id = fields.String(allow_none=True)
    store_id = fields.String(allow_none=True)
    terminal_id = fields.String(allow_none=True)
    created_at = Timestamp()
    last_used_at = Timestamp(allow_none=True)
    revoked_at = Timestamp(allow_none=True)


class KeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(
        required=True,
        validate=validate.OneOf(STAFF_ROLES),
        metadata={"description": "Terminal keys are made with their terminal."},
    )
    merchant_id = fields.String(load_default=None, metadata={"description": "Required for a merchant key."})


class CreatedKeySchema(KeySchema):
    secret = fields.String(metadata={"description": "Shown once; only its hash is kept."})


class KeyListArgs(PageArgs):
    role = fields.String(load_default=None, validate=validate.OneOf([r.value for r in Role]))
    merchant_id = fields.String(load_default=None)


KeyPage = page_schema(KeySchema, "KeyPage")
