from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from api.rules.schemas import plausible_instant
from loyalty.analytics.models import LIFECYCLE_STAGES
from loyalty.campaigns.models import CAMPAIGN_STATUSES, CHANNELS
from loyalty.contacts import LOCALES

LARGEST = 10**12


class DaysRange(Schema):
    min = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=36_500))
    max = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=36_500))


def _texts(description: str) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(max=200),
        metadata={"description": description},
    )


class AudienceSchema(Schema):
    """Who a campaign reaches: every filter given must hold; a list matches any of its values."""

    lifecycle_stages = fields.List(
        fields.String(validate=validate.OneOf(LIFECYCLE_STAGES)),
        metadata={"description": f"Members in any of these stages ({', '.join(LIFECYCLE_STAGES)})."},
    )
    rfm_segments = _texts("Members in any of these RFM segments (a member without analytics is in none).")
    value_bands = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=5)),
        metadata={"description": "Members in any of these predicted-value quintiles (5 the highest)."},
    )
    tiers = _texts("Members of any of these tier codes.")
    days_since_last_purchase = fields.Nested(
        DaysRange,
        metadata={"description": "Bounds on days since the last purchase; a member who never bought matches none."},
    )
    merchant_ids = _texts("Members who ever bought at any of these merchants.")
    consent = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)),
        metadata={"description": "Members who consent to marketing on at least one of these channels."},
    )


class MessageText(Schema):
    subject = fields.String(validate=validate.Length(max=2000))
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OfferSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(("rule", "bonus", "reward")))
    points = StrictInteger(
        validate=validate.Range(min=1, max=LARGEST), metadata={"description": "A bonus offer's points."}
    )
    reward_id = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "A reward offer's reward."}
    )
    rule = fields.Dict(
        metadata={
            "description": "A rule offer's earning rule: "
            "`{condition, effect, limits, priority, stacking, merchant_id}` as `POST /rules` takes them; "
            "its name, window (the campaign's) and budget (the campaign's) are set."
        }
    )


_MESSAGE = {
    "description": f"The message per locale ({', '.join(LOCALES)}): `{{subject, body}}`; a member reads their "
    "locale's, else English's."
}


class CampaignCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    audience = fields.Nested(AudienceSchema, load_default=dict)
    offer = fields.Nested(OfferSchema, required=True)
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=list)
    message = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LOCALES)), values=fields.Nested(MessageText), metadata=_MESSAGE
    )
    control_share_pct = StrictInteger(
        validate=validate.Range(min=0, max=90),
        metadata={"description": "The share of the audience held out as the control group (default 10)."},
    )
    budget_points = StrictInteger(
        allow_none=True,
        validate=validate.Range(min=1, max=LARGEST),
        metadata={"description": "The most points the offer may cost in all; required for a rule offer."},
    )
    starts_at = Timestamp(allow_none=True, validate=plausible_instant)
    ends_at = Timestamp(allow_none=True, validate=plausible_instant)
    measure_days = StrictInteger(
        validate=validate.Range(min=1, max=366),
        metadata={"description": "Purchases are measured from starts_at for this many days (default 30)."},
    )


class CampaignPatchSchema(CampaignCreateSchema):
    """The fields given replace the current ones."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    audience = fields.Nested(AudienceSchema)
    offer = fields.Nested(OfferSchema)
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)))


class CampaignSchema(CampaignCreateSchema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": f"One of {', '.join(CAMPAIGN_STATUSES)}."})
    audience = fields.Dict()
    offer = fields.Dict()
    message = fields.Dict()
    rule_id = fields.String(allow_none=True)
    points_spent = StrictInteger()
    audience_size = StrictInteger()
    treatment_size = StrictInteger()
    control_size = StrictInteger()
    progress = fields.Dict(metadata={"description": "What the launch's background work has done so far."})
    created_by = fields.String()
    created_at = Timestamp()
    launched_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)


CampaignPage = page_schema(CampaignSchema, "CampaignPage")


class CampaignListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(CAMPAIGN_STATUSES))
    q = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "Part of the name, or the id."}
    )


class AudienceEstimateSchema(Schema):
    audience = fields.Nested(AudienceSchema, load_default=dict)


class AudienceSizeSchema(Schema):
    members = StrictInteger(required=True)


class CampaignResultsSchema(Schema):
    campaign_id = fields.String(required=True)
    status = fields.String(required=True)
    window = fields.Dict()
    complete = fields.Boolean()
    currency = fields.String()
    points_cost = StrictInteger()
    points_cost_value_minor = StrictInteger()
    groups = fields.Dict(
        metadata={
            "description": "`treatment` and `control`: `{members, converted, conversion, revenue_minor, "
            "revenue_per_member_minor}`."
        }
    )
    enough_data = fields.Boolean(metadata={"description": "False: the campaign is too small; `verdict` says why."})
    verdict = fields.String(allow_none=True)
    conversion_lift = fields.Dict(
        allow_none=True, metadata={"description": "`{difference, ci_low, ci_high, z, p_value}` (95%)."}
    )
    revenue_lift = fields.Dict(
        allow_none=True,
        metadata={"description": "Revenue per member: `{difference_minor, ci_low, ci_high, standard_error}` (95%)."},
    )
    incremental_revenue_minor = StrictInteger(allow_none=True)
    return_on_points = fields.Float(
        allow_none=True, metadata={"description": "Incremental revenue over the points' value at the redemption rate."}
    )


def campaign_body(campaign) -> dict:
    return {
        field: getattr(campaign, field)
        for field in (
            "id",
            "name",
            "description",
            "status",
            "audience",
            "offer",
            "channels",
            "message",
            "control_share_pct",
            "budget_points",
            "points_spent",
            "starts_at",
            "ends_at",
            "measure_days",
            "rule_id",
            "audience_size",
            "treatment_size",
            "control_size",
            "progress",
            "created_by",
            "created_at",
            "launched_at",
            "completed_at",
        )
    }
