from marshmallow import fields, validate

from api.common import Schema, StrictBoolean, StrictInteger
from loyalty.analytics.lifecycle import settings_of


class RedemptionRate(Schema):
    points = StrictInteger(required=True, validate=validate.Range(min=1))
    value_minor = StrictInteger(required=True, validate=validate.Range(min=1))


class EarnRate(Schema):
    points = StrictInteger(required=True, validate=validate.Range(min=1))
    per_minor = StrictInteger(required=True, validate=validate.Range(min=1))


def _cap(minimum: int, description: str) -> StrictInteger:
    return StrictInteger(
        allow_none=True,
        validate=validate.Range(min=minimum),
        metadata={"description": description + " null: no limit."},
    )


class MerchantRuleLimits(Schema):
    """The operator's limits on the rules a merchant writes for its own stores.

    A merchant key's rule that goes beyond them is 422 `invalid_rule`, with the
    limit named in `errors.limit`; they are checked when the merchant saves or
    activates a rule. Rules the operator's own keys write are not limited.
    """

    merchants_may_write = StrictBoolean(
        metadata={
            "description": "Whether merchant keys may create, change and activate rules (pausing is always "
            "allowed). Rules already active stay active until paused."
        }
    )
    max_multiplier_percent = _cap(101, "The highest `percent` of a multiplier (200 doubles the base points).")
    max_bonus_points = _cap(1, "The most points a bonus effect may give.")
    max_points_per_item = _cap(1, "The most points a per_item effect may give per unit.")
    max_earn_rate = fields.Nested(
        EarnRate,
        allow_none=True,
        metadata={
            "description": "The highest rate of a per_amount effect: `{points: 10, per_minor: 100}` allows at most "
            "10 points per 100 minor units (`{points: 1, per_minor: 10}` passes, `{points: 2, per_minor: 10}` "
            "does not). null: no limit."
        },
    )
    max_budget_points = _cap(1, "The largest `limits.budget_points` of a merchant's rule.")
    require_budget = StrictBoolean(
        metadata={"description": "Whether every merchant rule must have a budget, so what it gives is bounded."}
    )
    allow_exclusive = StrictBoolean(
        metadata={
            "description": "Whether a merchant's rule may be `exclusive`. An exclusive rule ends the walk, so the "
            "operator's lower-priority rules would not apply at that merchant's stores."
        }
    )


class ProgramSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    currency = fields.String(
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code such as EUR."),
        metadata={"description": "ISO 4217 code."},
    )
    redemption_rate = fields.Nested(RedemptionRate, metadata={"description": "`points` pay `value_minor` minor units."})
    pending_days = StrictInteger(validate=validate.Range(min=0, max=365))
    expiry_months = StrictInteger(
        allow_none=True,
        validate=validate.Range(min=1, max=240),
        metadata={"description": "null: points never expire."},
    )
    qualification_window_months = StrictInteger(validate=validate.Range(min=1, max=60))
    tier_grace_days = StrictInteger(validate=validate.Range(min=0, max=730))
    claim_window_days = StrictInteger(validate=validate.Range(min=0, max=365))
    timezone = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "IANA name."})
    contact_cap_count = StrictInteger(
        validate=validate.Range(min=0, max=1000),
        metadata={
            "description": "At most this many campaign messages reach a member in any `contact_cap_days` window, "
            "whatever the campaigns ask (0: none)."
        },
    )
    contact_cap_days = StrictInteger(
        validate=validate.Range(min=1, max=366), metadata={"description": "The window of the contact cap, in days."}
    )
    merchant_rules = fields.Nested(
        MerchantRuleLimits,
        metadata={"description": "The operator's limits on merchants' own rules; a PATCH changes the keys it names."},
    )
    lifecycle_settings = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        metadata={
            "description": "The thresholds of the lifecycle stages (docs/analytics.md), every one with its value in "
            "force. A PATCH changes the keys it names; null puts a key back to its default. Keys: "
            "rhythm_min_purchases, at_risk_multiple, lapsed_multiple, lost_multiple, min_gap_days, at_risk_days, "
            "lapsed_days, lost_days, won_back_days, growth_window_days, growth_window_gaps, growth_ratio. A value "
            "that does not fit is 422 `validation_error` naming it in `errors`."
        },
    )


class ProgramPatchSchema(ProgramSchema):
    pass


# merchant_rules keys -> Program columns (max_earn_rate is two columns).
MERCHANT_RULE_COLUMNS = {
    "merchants_may_write": "merchants_may_write_rules",
    "max_multiplier_percent": "merchant_max_multiplier_percent",
    "max_bonus_points": "merchant_max_bonus_points",
    "max_points_per_item": "merchant_max_points_per_item",
    "max_budget_points": "merchant_max_budget_points",
    "require_budget": "merchant_require_budget",
    "allow_exclusive": "merchant_allow_exclusive",
}


def merchant_rules_body(program) -> dict:
    body = {key: getattr(program, column) for key, column in MERCHANT_RULE_COLUMNS.items()}
    rate = None
    if program.merchant_max_rate_points is not None:
        rate = {"points": program.merchant_max_rate_points, "per_minor": program.merchant_max_rate_per_minor}
    body["max_earn_rate"] = rate
    return {key: body[key] for key in MerchantRuleLimits().fields}


def program_body(program) -> dict:
    return {
        "name": program.name,
        "currency": program.currency,
        "redemption_rate": {"points": program.redemption_points, "value_minor": program.redemption_value_minor},
        "pending_days": program.pending_days,
        "expiry_months": program.expiry_months,
        "qualification_window_months": program.qualification_window_months,
        "tier_grace_days": program.tier_grace_days,
        "claim_window_days": program.claim_window_days,
        "timezone": program.timezone,
        "contact_cap_count": program.contact_cap_count,
        "contact_cap_days": program.contact_cap_days,
        "merchant_rules": merchant_rules_body(program),
        "lifecycle_settings": settings_of(program.lifecycle_settings).as_dict(),
    }


def program_changes(data: dict) -> dict:
    changes = dict(data)
    rate = changes.pop("redemption_rate", None)
    if rate:
        changes["redemption_points"] = rate["points"]
        changes["redemption_value_minor"] = rate["value_minor"]
    limits = changes.pop("merchant_rules", None) or {}
    for key, column in MERCHANT_RULE_COLUMNS.items():
        if key in limits:
            changes[column] = limits[key]
    if "max_earn_rate" in limits:
        earn_rate = limits["max_earn_rate"] or {}
        changes["merchant_max_rate_points"] = earn_rate.get("points")
        changes["merchant_max_rate_per_minor"] = earn_rate.get("per_minor")
    return changes
