from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictBoolean, StrictInteger, Timestamp, page_schema
from api.tiers.schemas import TierStandingSchema
from loyalty.contacts import LOCALES
from loyalty.ledger.queries import KINDS
from loyalty.members.services import ACTIVE, STATUSES, SUSPENDED

_EMAIL = {"description": "An email address; stored lower-cased."}
_PHONE = {"description": "E.164, such as +447700900123 (in a query string, send + as %2B)."}
_CARD = {"description": "16 digits with a Luhn check digit; spaces and dashes are ignored."}
_BIRTH_MONTH = {"description": "1 to 12, or null: earning rules can read whether a purchase falls in it."}


class BalanceSchema(Schema):
    available = StrictInteger(
        metadata={"description": "Points that can be spent now (may be negative after a return)."}
    )
    pending = StrictInteger(metadata={"description": "Points earned that are not yet available."})


class MemberSchema(Schema):
    id = fields.String()
    card_number = fields.String(allow_none=True, metadata={"description": "null once the member is erased."})
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    locale = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    enrolled_at = Timestamp()
    tier = fields.Nested(
        TierStandingSchema,
        allow_none=True,
        metadata={"description": "The tier held and the progress to the next; null when the program has no tiers."},
    )
    balance = fields.Nested(BalanceSchema)
    lifecycle_stage = fields.String()
    marketing_opt_in = fields.Boolean()
    referral_code = fields.String(allow_none=True, metadata={"description": "This member's code to refer friends."})
    birth_month = StrictInteger(allow_none=True, metadata=_BIRTH_MONTH)


class MemberCreateSchema(Schema):
    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=320), metadata=_EMAIL)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32), metadata=_PHONE)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    locale = fields.String(load_default="en", validate=validate.OneOf(LOCALES))
    marketing_opt_in = StrictBoolean(load_default=False)
    referral_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=16),
        metadata={"description": "The referral code of the member who brought this one."},
    )
    birth_month = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=12), metadata=_BIRTH_MONTH
    )


class MemberPatchSchema(Schema):
    email = fields.String(allow_none=True, validate=validate.Length(max=320), metadata=_EMAIL)
    phone = fields.String(allow_none=True, validate=validate.Length(max=32), metadata=_PHONE)
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    marketing_opt_in = StrictBoolean()
    status = fields.String(validate=validate.OneOf([ACTIVE, SUSPENDED]))
    birth_month = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=12), metadata=_BIRTH_MONTH)


class MemberListArgs(PageArgs):
    card_number = fields.String(load_default=None, validate=validate.Length(min=1, max=40), metadata=_CARD)
    email = fields.String(load_default=None, validate=validate.Length(min=1, max=320), metadata=_EMAIL)
    phone = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata=_PHONE)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class BreakdownLineSchema(Schema):
    rule_id = fields.String(allow_none=True)
    rule_name = fields.String()
    points = StrictInteger()


class ActivityEntrySchema(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    points = StrictInteger()
    balance_after = StrictInteger(metadata={"description": "The available balance after this entry."})
    created_at = Timestamp()
    available_at = Timestamp(allow_none=True)
    expires_at = Timestamp(allow_none=True)
    merchant_id = fields.String(allow_none=True)
    purchase_id = fields.String(allow_none=True)
    redemption_id = fields.String(allow_none=True)
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    note = fields.String(allow_none=True)


class ActivityArgs(PageArgs):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    merchant_id = fields.String(load_default=None)


class CardImageArgs(Schema):
    size = fields.Integer(
        load_default=10,
        validate=validate.Range(min=2, max=40),
        metadata={"description": "PNG only: pixels per QR module."},
    )


MemberPage = page_schema(MemberSchema, "MemberPage")
ActivityPage = page_schema(ActivityEntrySchema, "ActivityPage")


def member_body(member, balance, tier=None) -> dict:
    """A member as API.md shows it, with the balance the ledger gives now and their tier standing."""
    return {
        "id": member.id,
        "card_number": member.card_number,
        "email": member.email,
        "phone": member.phone,
        "name": member.name,
        "locale": member.locale,
        "status": member.status,
        "enrolled_at": member.enrolled_at,
        "tier": tier.as_dict() if tier is not None else None,
        "balance": balance.as_dict(),
        "lifecycle_stage": member.lifecycle_stage,
        "marketing_opt_in": member.marketing_opt_in,
        "referral_code": member.referral_code,
        "birth_month": member.birth_month,
    }


class ClaimSchema(Schema):
    claim_code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "The code printed on the receipt of a purchase made without the card."},
    )


class ClaimResultSchema(Schema):
    purchase_id = fields.String()
    points = StrictInteger(metadata={"description": "Points added (the purchase's, less any returned since)."})
    balance = fields.Nested(BalanceSchema)
    tier = fields.Nested(TierStandingSchema, allow_none=True, metadata={"description": "After the claim."})


class AdjustmentSchema(Schema):
    points = StrictInteger(
        required=True,
        validate=validate.Range(min=-(10**12), max=10**12),
        metadata={"description": "Points to add (positive) or take (negative); not zero."},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Why: the entry's note in the activity, and in the audit log. Required."},
    )
    idempotency_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The same key for the same member applies the adjustment once."},
    )


class AdjustmentReceiptSchema(Schema):
    id = fields.String()
    member_id = fields.String()
    points = StrictInteger()
    reason = fields.String()
    entry_id = fields.String(metadata={"description": "The `adjust` entry in the member's activity."})
    balance = fields.Nested(BalanceSchema)
    created_at = Timestamp()
