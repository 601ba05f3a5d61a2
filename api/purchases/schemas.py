from marshmallow import ValidationError, fields, validate, validates_schema

from api.common import Schema, StrictInteger, Timestamp
from api.members.schemas import BreakdownLineSchema
from api.rules.schemas import plausible_instant
from rules import SkipReason

LARGEST_AMOUNT = 10**12  # minor units; far beyond any basket, small enough for exact sums
LARGEST_QUANTITY = 1_000_000
MAX_ITEMS = 1000
IDENTIFIERS = ("card_number", "member_id", "phone", "email")


def printable(value: str) -> None:
    """No control characters (a NUL cannot even be stored) and no lone surrogates."""
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValidationError("Contains control characters.")


def _text(longest: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=longest), printable], **kwargs)


class MemberRefSchema(Schema):
    """The member, by exactly one identifier."""

    card_number = _text(40, metadata={"description": "16 digits with a Luhn check digit."})
    member_id = _text(64)
    phone = _text(32, metadata={"description": "E.164."})
    email = _text(320)

    @validates_schema
    def _exactly_one(self, data, **kwargs):
        given = [name for name in IDENTIFIERS if data.get(name)]
        if len(given) != 1:
            raise ValidationError(
                "Name the member by exactly one of card_number, member_id, phone or email.", field_name="member"
            )


class PurchaseItemSchema(Schema):
    sku = _text(100, required=True)
    category = _text(100, load_default=None, allow_none=True)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=LARGEST_QUANTITY))
    unit_price_minor = StrictInteger(required=True, validate=validate.Range(min=0, max=LARGEST_AMOUNT))


class PurchaseSchema(Schema):
    """A purchase as a till sends it (API.md, Purchases)."""

    external_id = _text(64, required=True, metadata={"description": "The till's receipt id; unique per merchant."})
    store_id = _text(
        64,
        load_default=None,
        allow_none=True,
        metadata={"description": "The store, for merchant and admin keys; a terminal's key implies its own."},
    )
    member = fields.Nested(
        MemberRefSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Absent or null: an anonymous purchase."},
    )
    occurred_at = Timestamp(
        load_default=None,
        allow_none=True,
        validate=plausible_instant,
        metadata={"description": "ISO 8601 with an offset; now when absent."},
    )
    currency = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code such as EUR."),
        metadata={"description": "Must be the program's currency (422 `currency_mismatch`)."},
    )
    total_minor = StrictInteger(required=True, validate=validate.Range(min=0, max=LARGEST_AMOUNT))
    items = fields.List(fields.Nested(PurchaseItemSchema), load_default=list, validate=validate.Length(max=MAX_ITEMS))


class PurchaseQuoteSchema(PurchaseSchema):
    """A purchase body for a quote: ``external_id`` may be left out."""

    external_id = _text(64, load_default=None, allow_none=True, metadata={"description": "Ignored by a quote."})


class QuoteArgs(Schema):
    explain = fields.Boolean(
        load_default=False,
        metadata={"description": "Also list the rules in scope that gave nothing, and why (not for terminals)."},
    )


class SkippedRuleSchema(Schema):
    rule_id = fields.String()
    rule_name = fields.String()
    reason = fields.String(metadata={"enum": [reason.value for reason in SkipReason]})


class QuoteSchema(Schema):
    points = StrictInteger()
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    skipped = fields.List(fields.Nested(SkippedRuleSchema), metadata={"description": "With `?explain=true` only."})


def quote_body(quote, *, explain: bool) -> dict:
    body = {
        "points": quote.points,
        "breakdown": [
            {"rule_id": line.rule_id, "rule_name": line.rule_name, "points": line.points} for line in quote.breakdown
        ],
    }
    if explain:
        body["skipped"] = [
            {"rule_id": skip.rule_id, "rule_name": skip.rule_name, "reason": skip.reason.value}
            for skip in quote.skipped
        ]
    return body
