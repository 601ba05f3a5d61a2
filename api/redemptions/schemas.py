from marshmallow import ValidationError, fields, validate, validates_schema

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from api.members.schemas import BalanceSchema
from loyalty.rewards.services import KINDS, LARGEST_POINTS, MAX_KEY_LENGTH, REDEMPTION_STATUSES


def _id(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64), **kwargs)


class RedemptionCreateSchema(Schema):
    """A reward for points (`reward_id`), or points as payment at the till (`points`): exactly one of the two."""

    member_id = _id(required=True)
    idempotency_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_KEY_LENGTH),
        metadata={"description": "The client's id for this redemption, unique per member: a retry sends it again."},
    )
    reward_id = _id(metadata={"description": "The reward to redeem."})
    points = StrictInteger(
        validate=validate.Range(min=1, max=LARGEST_POINTS),
        metadata={"description": "Points to pay with, at the program's redemption rate."},
    )
    store_id = _id(
        metadata={"description": "Where the points are redeemed, for admin keys (optional); a terminal's is its own."}
    )

    @validates_schema
    def _reward_or_points(self, data, **kwargs):
        if ("reward_id" in data) == ("points" in data):
            raise ValidationError("Give either reward_id or points.", field_name="reward_id")


class RedemptionReceiptSchema(Schema):
    """A reward: `{id, code, status: issued, points, expires_at, balance}`; a payment: `{id, value_minor, currency,
    balance}`; both with `kind`, `member_id` and `points`."""

    id = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    member_id = fields.String()
    reward_id = fields.String(metadata={"description": "Rewards only."})
    code = fields.String(metadata={"description": "Rewards only: shown at the till to use the reward, once."})
    status = fields.String(metadata={"enum": list(REDEMPTION_STATUSES)})
    points = StrictInteger()
    expires_at = fields.String(
        allow_none=True,
        metadata={"format": "date-time", "description": "Rewards only: until when the code can be used."},
    )
    value_minor = StrictInteger(metadata={"description": "Payments only: what the points paid, in minor units."})
    currency = fields.String(metadata={"description": "Payments only."})
    balance = fields.Nested(BalanceSchema, metadata={"description": "The member's balance after the redemption."})


class RedemptionSchema(Schema):
    """A redemption as it stands now."""

    id = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    member_id = fields.String()
    reward_id = fields.String(allow_none=True)
    points = StrictInteger()
    value_minor = StrictInteger(allow_none=True)
    currency = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(REDEMPTION_STATUSES)})
    expires_at = Timestamp(allow_none=True, metadata={"description": "Until when the code can be used."})
    points_expire_at = Timestamp(
        allow_none=True,
        metadata={"description": "The earliest expiry of the points spent: a cancellation gives them back with it."},
    )
    merchant_id = fields.String(allow_none=True, metadata={"description": "Where it was made (a terminal's)."})
    store_id = fields.String(allow_none=True)
    used_at = Timestamp(allow_none=True)
    used_merchant_id = fields.String(allow_none=True)
    used_store_id = fields.String(allow_none=True)
    cancelled_at = Timestamp(allow_none=True)
    granted_by_campaign_id = fields.String(
        allow_none=True,
        metadata={
            "description": "The campaign that gave this reward, or null. Its points were the campaign's: "
            "cancelling it frees the stock and gives no points back."
        },
    )
    created_at = Timestamp()


class CancelledSchema(RedemptionSchema):
    balance = fields.Nested(BalanceSchema, metadata={"description": "The member's balance after the cancellation."})


class UseSchema(Schema):
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "The redemption's code, as shown or scanned; case, spaces and dashes do not matter."},
    )
    store_id = _id(metadata={"description": "Where it is used, for merchant and admin keys; a terminal's is its own."})
    use_key = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "The till's own key for this use. Sent again after a lost answer, it gets the same "
            "200 answer with `Idempotent-Replayed: true` instead of 409 `already_used`."
        },
    )


class MemberRedemptionArgs(PageArgs):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    status = fields.String(load_default=None, validate=validate.OneOf(REDEMPTION_STATUSES))


RedemptionPage = page_schema(RedemptionSchema, "RedemptionPage")


def redemption_body(redemption) -> dict:
    return {
        "id": redemption.id,
        "kind": redemption.kind,
        "member_id": redemption.member_id,
        "reward_id": redemption.reward_id,
        "points": redemption.points,
        "value_minor": redemption.value_minor,
        "currency": redemption.currency,
        "code": redemption.code,
        "status": redemption.status,
        "expires_at": redemption.expires_at,
        "points_expire_at": redemption.points_expire_at,
        "merchant_id": redemption.merchant_id,
        "store_id": redemption.store_id,
        "used_at": redemption.used_at,
        "used_merchant_id": redemption.used_merchant_id,
        "used_store_id": redemption.used_store_id,
        "cancelled_at": redemption.cancelled_at,
        "granted_by_campaign_id": redemption.granted_by_campaign_id,
        "created_at": redemption.created_at,
    }
