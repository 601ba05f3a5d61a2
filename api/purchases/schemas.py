from marshmallow import ValidationError, fields, validate, validates_schema

from api.common import ErrorEnvelope, PageArgs, Schema, StrictInteger, Timestamp, page_schema
from api.members.schemas import BalanceSchema, BreakdownLineSchema
from api.rules.schemas import plausible_instant
from api.tiers.schemas import TierStandingSchema
from loyalty.text import has_control_characters
from rules import SkipReason

LARGEST_AMOUNT = 10**12  # minor units; far beyond any basket, small enough for exact sums
LARGEST_QUANTITY = 1_000_000
MAX_ITEMS = 1000
MAX_BATCH = 100  # purchases in one POST /purchases/batch
IDENTIFIERS = ("card_number", "member_id", "phone", "email")


def printable(value: str) -> None:
    """No control characters (a NUL cannot even be stored) and no lone surrogates."""
    if has_control_characters(value):
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


class PurchaseReceiptSchema(Schema):
    """What the till prints: the points of this sale and the member's balance after it."""

    id = fields.String()
    external_id = fields.String()
    member_id = fields.String(allow_none=True)
    points_awarded = StrictInteger()
    points_status = fields.String(metadata={"enum": ["pending", "available"]})
    available_at = fields.String(metadata={"format": "date-time"})
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    balance = fields.Nested(BalanceSchema, allow_none=True, metadata={"description": "null for an anonymous purchase."})
    tier = fields.Nested(
        TierStandingSchema,
        allow_none=True,
        metadata={
            "description": "The member's tier after this purchase (it rises at once when the purchase qualifies); "
            "null for an anonymous purchase or when the program has no tiers."
        },
    )
    claim_code = fields.String(metadata={"description": "Anonymous purchases only: printed on the receipt."})


class UncheckedPurchase(fields.Nested):
    """A purchase of a batch, documented as ``PurchaseSchema`` but passed on as sent.

    Each purchase is checked on its own by the batch (a malformed one is that
    purchase's 422, not the whole batch's), and its fingerprint is taken from the
    body exactly as sent, as ``POST /purchases`` does.
    """

    def __init__(self, **kwargs):
        super().__init__(PurchaseSchema, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class PurchaseBatchSchema(Schema):
    """Purchases a till delivers together, oldest first (API.md, Purchases; one body each)."""

    purchases = fields.List(
        UncheckedPurchase(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": f"1 to {MAX_BATCH} purchases, each exactly the body of `POST /purchases`."},
    )

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        # No check of the whole list for control characters: each purchase is checked, and refused, on its own.
        if field_name != "purchases":
            super().on_bind_field(field_name, field_obj)


class BatchResultSchema(Schema):
    """What ``POST /purchases`` would have answered for one purchase of the batch."""

    index = StrictInteger(metadata={"description": "The purchase's place in the batch, from 0."})
    external_id = fields.String(allow_none=True, metadata={"description": "null when the purchase has none."})
    status = StrictInteger(
        metadata={
            "description": "The status `POST /purchases` would answer: 201 recorded, 200 replayed, 4xx refused "
            "for good, 5xx to be sent again (503 `not_attempted` after a failure earlier in the batch)."
        }
    )
    replayed = fields.Boolean(metadata={"description": "200 only: the receipt first given for this external_id."})
    receipt = fields.Nested(PurchaseReceiptSchema, metadata={"description": "201 and 200 only."})
    error = fields.Nested(ErrorEnvelope, metadata={"description": "4xx and 5xx only: the error envelope."})


class PurchaseBatchResultSchema(Schema):
    results = fields.List(
        fields.Nested(BatchResultSchema),
        metadata={"description": "One result per purchase sent, in the same order."},
    )


class ReturnItemSchema(Schema):
    sku = _text(100, required=True)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=LARGEST_QUANTITY))


class ReturnSchema(Schema):
    """Items given back, or an amount; exactly one of the two."""

    external_id = _text(
        64, required=True, metadata={"description": "The till's id of the return; unique per merchant."}
    )
    items = fields.List(fields.Nested(ReturnItemSchema), validate=validate.Length(min=1, max=MAX_ITEMS))
    amount_minor = StrictInteger(validate=validate.Range(min=1, max=LARGEST_AMOUNT))

    @validates_schema
    def _items_or_amount(self, data, **kwargs):
        if ("items" in data) == ("amount_minor" in data):
            raise ValidationError("Give either items or amount_minor.", field_name="items")


class ReturnReceiptSchema(Schema):
    id = fields.String()
    purchase_id = fields.String()
    external_id = fields.String()
    amount_minor = StrictInteger(metadata={"description": "The value returned, in minor units."})
    points_reversed = StrictInteger()
    balance = fields.Nested(BalanceSchema, allow_none=True)


class StoredItemSchema(Schema):
    sku = fields.String()
    category = fields.String(allow_none=True)
    quantity = StrictInteger()
    unit_price_minor = StrictInteger()
    returned_quantity = StrictInteger()


class StoredReturnSchema(Schema):
    id = fields.String()
    external_id = fields.String()
    amount_minor = StrictInteger()
    points_reversed = StrictInteger()
    created_at = Timestamp()


class PurchaseRecordSchema(Schema):
    """A stored purchase with its items, points and returns."""

    id = fields.String()
    external_id = fields.String()
    merchant_id = fields.String()
    store_id = fields.String()
    terminal_id = fields.String(allow_none=True)
    member_id = fields.String(allow_none=True)
    occurred_at = Timestamp()
    currency = fields.String()
    total_minor = StrictInteger()
    returned_minor = StrictInteger()
    points_awarded = StrictInteger()
    points_reversed = StrictInteger()
    available_at = Timestamp(allow_none=True)
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    claimed_at = Timestamp(allow_none=True)
    items = fields.List(fields.Nested(StoredItemSchema))
    returns = fields.List(fields.Nested(StoredReturnSchema))
    created_at = Timestamp()


class PurchaseListArgs(PageArgs):
    member_id = _text(64, load_default=None)
    store_id = _text(64, load_default=None)
    from_ = Timestamp(data_key="from", load_default=None, metadata={"description": "occurred_at at or after."})
    to = Timestamp(load_default=None, metadata={"description": "occurred_at before."})


PurchasePage = page_schema(PurchaseRecordSchema, "PurchasePage")


def purchase_body(purchase) -> dict:
    return {
        "id": purchase.id,
        "external_id": purchase.external_id,
        "merchant_id": purchase.merchant_id,
        "store_id": purchase.store_id,
        "terminal_id": purchase.terminal_id,
        "member_id": purchase.member_id,
        "occurred_at": purchase.occurred_at,
        "currency": purchase.currency,
        "total_minor": purchase.total_minor,
        "returned_minor": purchase.returned_minor,
        "points_awarded": purchase.points_awarded,
        "points_reversed": purchase.points_reversed,
        "available_at": purchase.available_at,
        "breakdown": [
            {"rule_id": line["rule_id"], "rule_name": line["rule_name"], "points": line["points"]}
            for line in purchase.breakdown
        ],
        "claimed_at": purchase.claimed_at,
        "items": purchase.items,
        "returns": purchase.returns,
        "created_at": purchase.created_at,
    }
