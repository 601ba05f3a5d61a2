from marshmallow import fields, validate

from api.common import Schema, StrictInteger


class RedemptionRate(Schema):
    points = StrictInteger(required=True, validate=validate.Range(min=1))
    value_minor = StrictInteger(required=True, validate=validate.Range(min=1))


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


class ProgramPatchSchema(ProgramSchema):
    pass


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
    }


def program_changes(data: dict) -> dict:
    changes = dict(data)
    rate = changes.pop("redemption_rate", None)
    if rate:
        changes["redemption_points"] = rate["points"]
        changes["redemption_value_minor"] = rate["value_minor"]
    return changes
