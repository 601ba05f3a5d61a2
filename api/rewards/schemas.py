from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from api.rules.schemas import plausible_instant
from loyalty.rewards.services import DEFAULT_VALID_DAYS, STATUSES, unavailable_because

LARGEST = 10**12

_MERCHANT = {
    "description": "The merchant whose reward this is, usable only at its stores; null for the operator's "
    "rewards, usable at every partner. A merchant key's rewards are its own: it may leave this out."
}
_STOCK = {"description": "How many can be redeemed in all (a cancellation gives one back); null: unlimited."}
_LIMIT = {"description": "How many one member may hold (cancelled ones do not count); null: no limit."}
_TIER = {
    "description": "A tier code: only members of that tier may redeem the reward (see docs/rewards.md); "
    "null: every member."
}
_WINDOW = {"description": "Offered from starts_at (inclusive) to ends_at (exclusive); null: open."}
_VALID_DAYS = {
    "description": f"How many days a redemption's code can be used (default {DEFAULT_VALID_DAYS}); "
    "null: until used or cancelled."
}


def _name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=200), **kwargs)


def _description(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=2000), **kwargs)


def _min_tier(**kwargs) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(min=1, max=32), metadata=_TIER, **kwargs)


def _count(smallest: int, largest: int, metadata: dict, **kwargs) -> StrictInteger:
    return StrictInteger(
        allow_none=True, validate=validate.Range(min=smallest, max=largest), metadata=metadata, **kwargs
    )


class RewardCreateSchema(Schema):
    name = _name(required=True)
    description = _description()
    points_cost = StrictInteger(required=True, validate=validate.Range(min=1, max=LARGEST))
    merchant_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64), metadata=_MERCHANT)
    stock = _count(0, LARGEST, _STOCK)
    per_member_limit = _count(1, 1_000_000, _LIMIT)
    min_tier = _min_tier()
    starts_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    ends_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    valid_days = _count(1, 3650, _VALID_DAYS)


class RewardPatchSchema(Schema):
    name = _name()
    description = _description()
    points_cost = StrictInteger(validate=validate.Range(min=1, max=LARGEST))
    merchant_id = fields.String(
        allow_none=True, validate=validate.Length(min=1, max=64), metadata={"description": "Cannot change."}
    )
    stock = _count(0, LARGEST, {"description": _STOCK["description"] + " Never below the number issued."})
    per_member_limit = _count(1, 1_000_000, _LIMIT)
    min_tier = _min_tier()
    starts_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    ends_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    valid_days = _count(1, 3650, _VALID_DAYS)
    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "`archived` stops new redemptions; codes already issued stay usable."},
    )


class RewardSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    points_cost = StrictInteger()
    merchant_id = fields.String(allow_none=True)
    stock = StrictInteger(allow_none=True, metadata={"description": "With a key only."})
    issued = StrictInteger(
        metadata={"description": "Redemptions holding one of the stock (issued or used). With a key only."}
    )
    remaining = StrictInteger(
        allow_none=True, metadata={"description": "stock - issued; null: unlimited. With a key only."}
    )
    per_member_limit = StrictInteger(allow_none=True)
    min_tier = fields.String(allow_none=True)
    starts_at = Timestamp(allow_none=True)
    ends_at = Timestamp(allow_none=True)
    valid_days = StrictInteger(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    available = fields.Boolean(
        metadata={"description": "Whether it can be redeemed now: active, in its window and in stock."}
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class RewardListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    merchant_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    available = fields.Boolean(
        load_default=None, metadata={"description": "true: only those that can be redeemed now; false: the others."}
    )


RewardPage = page_schema(RewardSchema, "RewardPage")

_PRIVATE = ("stock", "issued", "remaining")


def reward_body(reward, *, public: bool = False) -> dict:
    body = {
        "id": reward.id,
        "name": reward.name,
        "description": reward.description,
        "points_cost": reward.points_cost,
        "merchant_id": reward.merchant_id,
        "stock": reward.stock,
        "issued": reward.issued,
        "remaining": None if reward.stock is None else reward.stock - reward.issued,
        "per_member_limit": reward.per_member_limit,
        "min_tier": reward.min_tier,
        "starts_at": reward.starts_at,
        "ends_at": reward.ends_at,
        "valid_days": reward.valid_days,
        "status": reward.status,
        "available": unavailable_because(reward) is None,
        "created_at": reward.created_at,
        "updated_at": reward.updated_at,
    }
    if public:
        for field in _PRIVATE:
            del body[field]
    return body
