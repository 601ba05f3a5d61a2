from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, page_schema
from loyalty.tiers import validation

_CODE = {
    "description": "A stable slug: lower-case letters and digits, words joined by - or _ (such as `gold`). "
    "Members hold a tier by its code, and earning rules read it as `member.tier`."
}
_RANK = {"description": "Higher ranks are higher tiers; unique."}
_QUALIFYING = {
    "description": "Qualifying points needed to hold the tier; strictly more for each higher rank. "
    "The lowest tier may need 0: every member then holds it from enrolment."
}
_BENEFITS = {"description": "Free-form: what the tier gives, for the portal and marketing tools (a JSON object)."}


class TierSchema(Schema):
    code = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=validation.CODE_MAX),
            validate.Regexp(validation.CODE_PATTERN, error="Lower-case letters and digits, words joined by - or _."),
        ],
        metadata=_CODE,
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=validation.NAME_MAX))
    rank = StrictInteger(required=True, validate=validate.Range(min=0, max=validation.MAX_RANK), metadata=_RANK)
    qualifying_points = StrictInteger(
        required=True, validate=validate.Range(min=0, max=validation.MAX_QUALIFYING_POINTS), metadata=_QUALIFYING
    )
    benefits = fields.Dict(keys=fields.String(), load_default=dict, metadata=_BENEFITS)


class TierListArgs(PageArgs):
    pass


TierPage = page_schema(TierSchema, "TierPage")


def tier_body(tier) -> dict:
    return tier.as_dict()


class TierProgressSchema(Schema):
    qualifying_points = StrictInteger(
        metadata={"description": "Points earned less points returned over the program's qualification window."}
    )
    next_tier = fields.String(
        allow_none=True, metadata={"description": "The code of the next tier up; null at the top."}
    )
    points_to_next = StrictInteger(
        allow_none=True, metadata={"description": "Qualifying points still needed for it; null at the top."}
    )
    points_to_keep = StrictInteger(
        metadata={"description": "Qualifying points short of the tier held; 0 while the member qualifies for it."}
    )


class TierStandingSchema(Schema):
    """Where a member stands. null when the program has no tiers."""

    code = fields.String(allow_none=True, metadata={"description": "The tier held; null when none is reached."})
    name = fields.String(allow_none=True)
    progress = fields.Nested(TierProgressSchema)
    at_risk_until = fields.String(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "While the member is short of their tier: the first review after this lowers them by "
            "one tier, unless they qualify again before. null otherwise.",
        },
    )
