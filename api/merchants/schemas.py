from marshmallow import fields, validate

from api.common import PageArgs, Schema, Timestamp, page_schema

APPLICATION_STATUSES = ["pending", "approved", "rejected"]
MERCHANT_STATUSES = ["active", "suspended"]


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``: never 1, "yes" or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _name(**kwargs):
    return fields.String(validate=validate.Length(min=1, max=200), **kwargs)


def _email(**kwargs):
    return fields.String(
        validate=validate.Length(min=3, max=320),
        metadata={"description": "Checked and normalised (the domain part is lower-cased)."},
        **kwargs,
    )


def _website(**kwargs):
    return fields.String(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "An http or https URL."},
        **kwargs,
    )


def _category(**kwargs):
    return fields.String(
        allow_none=True,
        validate=validate.Length(max=100),
        metadata={"description": "What the merchant sells, in a word or two (coffee, books)."},
        **kwargs,
    )


# ---- applications ---------------------------------------------------------------------------


class ApplicationCreateSchema(Schema):
    name = _name(required=True, metadata={"description": "The business's name, as members will see it."})
    contact_email = _email(required=True)
    website = _website(load_default=None)
    category = _category(load_default=None)


class ApplicationAcceptedSchema(Schema):
    id = fields.String(metadata={"description": "The application's id."})
    status = fields.String(metadata={"description": "Always `pending` until an admin decides."})


class ApplicationSchema(Schema):
    id = fields.String()
    name = fields.String()
    contact_email = fields.String()
    website = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "`pending`, `approved` or `rejected`."})
    submitted_at = Timestamp()
    decided_at = Timestamp(allow_none=True)
    decision_note = fields.String(allow_none=True, metadata={"description": "The note given with a rejection."})
    merchant_id = fields.String(allow_none=True, metadata={"description": "The merchant an approval created."})


class ApplicationListArgs(PageArgs):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(APPLICATION_STATUSES),
        metadata={"description": "Only applications with this status."},
    )


class RejectSchema(Schema):
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Why, for the applicant."},
    )


class ApprovalSchema(Schema):
    merchant_id = fields.String(metadata={"description": "The new merchant."})
    api_key_id = fields.String(metadata={"description": "The id of the merchant's key (to revoke it later)."})
    api_key = fields.String(metadata={"description": "The merchant key's secret: shown in this answer only."})


ApplicationPage = page_schema(ApplicationSchema, "MerchantApplicationPage")


# ---- merchants -------------------------------------------------------------------------------


class MerchantSchema(Schema):
    id = fields.String()
    name = fields.String()
    contact_email = fields.String()
    website = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    status = fields.String(
        metadata={"description": "`active`, or `suspended`: the merchant's keys and terminals are refused (403)."}
    )
    require_signed_requests = fields.Boolean(
        metadata={"description": "Whether its terminals must sign every request (see Signed terminal requests)."}
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class MerchantPatchSchema(Schema):
    """Merchant keys may change `contact_email` and `website`; the other fields are the admin's (403 otherwise)."""

    name = _name()
    contact_email = _email()
    website = _website()
    category = _category()
    require_signed_requests = StrictBoolean(metadata={"description": "Admin only."})
    status = fields.String(validate=validate.OneOf(MERCHANT_STATUSES), metadata={"description": "Admin only."})


class MerchantListArgs(PageArgs):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(MERCHANT_STATUSES),
        metadata={"description": "Only merchants with this status."},
    )


MerchantPage = page_schema(MerchantSchema, "MerchantPage")


# ---- stores ----------------------------------------------------------------------------------


class StoreSchema(Schema):
    id = fields.String()
    merchant_id = fields.String()
    name = fields.String()
    timezone = fields.String(metadata={"description": "IANA name; sets local days and hours for rules."})
    status = fields.String(metadata={"description": "`active`."})
    created_at = Timestamp()


class StoreCreateSchema(Schema):
    name = _name(required=True)
    timezone = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "An IANA timezone such as Europe/Lisbon (422 otherwise)."},
    )


StorePage = page_schema(StoreSchema, "StorePage")
