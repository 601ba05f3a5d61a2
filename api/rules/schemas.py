from datetime import UTC

from marshmallow import ValidationError, fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from loyalty.earning.queries import SCOPES
from loyalty.earning.services import STATUSES
from rules import PERIODS

EFFECT_TYPES = ["per_amount", "per_item", "multiplier", "bonus"]
STACKING = ["stack", "exclusive"]
LARGEST = 10**12  # the rules engine's bound on any number in a rule


def plausible_instant(value) -> None:
    """Instants a rule or a purchase can mean: between 1970 and 9000, whatever the offset."""
    try:
        year = value.astimezone(UTC).year
    except (OverflowError, ValueError):
        year = 0
    if not 1970 <= year < 9000:
        raise ValidationError("Must be between 1970 and 9000.")


def _number(description: str, **kwargs) -> StrictInteger:
    return StrictInteger(validate=validate.Range(min=1, max=LARGEST), metadata={"description": description}, **kwargs)


class EffectSchema(Schema):
    """What a rule gives when it fires. Which fields go with which type is in the operation's description."""

    type = fields.String(required=True, metadata={"enum": EFFECT_TYPES})
    points = _number("Points: per `per_minor` (per_amount), per unit (per_item), or once (bonus).")
    per_minor = _number("per_amount: the minor units that earn `points`.")
    sku = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "per_item: this SKU."})
    category = fields.String(
        validate=validate.Length(min=1, max=100), metadata={"description": "per_item: this category."}
    )
    percent = _number("multiplier: the base points become this percentage of themselves (above 100).")


class PerMemberSchema(Schema):
    times = _number("How often the rule may fire for one member in a period.", required=True)
    period = fields.String(
        required=True,
        metadata={"enum": list(PERIODS), "description": "A calendar period at the store's local time."},
    )


class LimitsSchema(Schema):
    per_member = fields.Nested(PerMemberSchema, allow_none=True)
    budget_points = _number("The most points the rule gives in all, to everyone.", allow_none=True)


def _name(**kwargs):
    return fields.String(validate=validate.Length(min=1, max=200), **kwargs)


_CONDITION = {
    "description": "An expression over purchase and member facts (see docs/rules-api.md); empty or null is "
    "always true.",
    "example": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
}
_MERCHANT = {
    "description": "The merchant whose stores the rule applies at; null for every store (the operator's "
    "rules only). A merchant key's rules are its own: it may leave this out."
}
_WINDOW = {"description": "The rule applies from starts_at (inclusive) to ends_at (exclusive); null: open."}


class RuleCreateSchema(Schema):
    name = _name(required=True)
    priority = StrictInteger(
        load_default=0,
        validate=validate.Range(min=-LARGEST, max=LARGEST),
        metadata={"description": "Rules are walked highest first; ties by id."},
    )
    stacking = fields.String(load_default="stack", metadata={"enum": STACKING})
    merchant_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64), metadata=_MERCHANT)
    starts_at = Timestamp(load_default=None, allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    ends_at = Timestamp(load_default=None, allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    condition = fields.String(load_default="", allow_none=True, metadata=_CONDITION)
    effect = fields.Nested(EffectSchema, required=True)
    limits = fields.Nested(LimitsSchema, load_default=None, allow_none=True)


class RulePatchSchema(Schema):
    name = _name()
    priority = StrictInteger(validate=validate.Range(min=-LARGEST, max=LARGEST))
    stacking = fields.String(metadata={"enum": STACKING})
    merchant_id = fields.String(
        allow_none=True, validate=validate.Length(min=1, max=64), metadata={"description": "Cannot change."}
    )
    starts_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    ends_at = Timestamp(allow_none=True, validate=plausible_instant, metadata=_WINDOW)
    condition = fields.String(allow_none=True, metadata=_CONDITION)
    effect = fields.Nested(EffectSchema)
    limits = fields.Nested(LimitsSchema, allow_none=True)


class RuleSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    version = StrictInteger(metadata={"description": "The current version; purchases record the one that scored them."})
    versions = StrictInteger(metadata={"description": "How many versions the rule has had."})
    name = fields.String()
    priority = StrictInteger()
    stacking = fields.String(metadata={"enum": STACKING})
    merchant_id = fields.String(allow_none=True)
    starts_at = Timestamp(allow_none=True)
    ends_at = Timestamp(allow_none=True)
    condition = fields.String()
    effect = fields.Nested(EffectSchema)
    limits = fields.Nested(LimitsSchema, metadata={"description": "`{}` when the rule has no limits."})
    created_at = Timestamp()
    updated_at = Timestamp()


class AuthorSchema(Schema):
    kind = fields.String(metadata={"description": "`key`, `cli` or `system`."})
    name = fields.String()
    role = fields.String(allow_none=True)
    key_id = fields.String(allow_none=True)


class RuleVersionSchema(Schema):
    rule_id = fields.String()
    version = StrictInteger()
    name = fields.String()
    priority = StrictInteger()
    stacking = fields.String(metadata={"enum": STACKING})
    merchant_id = fields.String(allow_none=True)
    starts_at = Timestamp(allow_none=True)
    ends_at = Timestamp(allow_none=True)
    condition = fields.String()
    effect = fields.Nested(EffectSchema)
    limits = fields.Nested(LimitsSchema)
    created_at = Timestamp(metadata={"description": "When this version's content was last written."})
    created_by = fields.Nested(AuthorSchema)


class RuleListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    merchant_id = fields.String(
        load_default=None, validate=validate.Length(min=1, max=64), metadata={"description": "One merchant's rules."}
    )
    scope = fields.String(
        load_default=None,
        validate=validate.OneOf(SCOPES),
        metadata={"description": "`operator`: the operator-wide rules; `merchants`: the merchants' own."},
    )


class SimulateSchema(Schema):
    rule = fields.Nested(
        RuleCreateSchema,
        required=True,
        metadata={"description": "A draft rule, as the body of `POST /rules`; nothing is saved."},
    )
    from_ = Timestamp(
        data_key="from",
        required=True,
        validate=plausible_instant,
        metadata={"description": "Purchases that occurred at or after this instant..."},
    )
    to = Timestamp(required=True, validate=plausible_instant, metadata={"description": "...and before this one."})


class SimulationProgressSchema(Schema):
    done = StrictInteger(metadata={"description": "Purchases scored so far."})
    total = StrictInteger(metadata={"description": "Purchases to score: the period's, in the rule's scope and window."})


class SimulationSchema(Schema):
    id = fields.String(
        allow_none=True, metadata={"description": "null for a simulation answered at once; read it back otherwise."}
    )
    status = fields.String(metadata={"enum": ["queued", "running", "done", "failed"]})
    progress = fields.Nested(SimulationProgressSchema)
    from_ = Timestamp(data_key="from")
    to = Timestamp()
    purchases_matched = StrictInteger(
        allow_none=True, metadata={"description": "Purchases the rule fires on; null until done."}
    )
    members_affected = StrictInteger(
        allow_none=True, metadata={"description": "Members who have the points of those purchases; null until done."}
    )
    points = StrictInteger(
        allow_none=True,
        metadata={"description": "Points the period gives with the rule, less without it (its cost); null until done."},
    )
    error = fields.String(allow_none=True)
    created_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)


RulePage = page_schema(RuleSchema, "RulePage")
RuleVersionPage = page_schema(RuleVersionSchema, "RuleVersionPage")

_CONTENT = ("name", "priority", "stacking", "merchant_id", "starts_at", "ends_at", "condition", "effect", "limits")


def rule_body(rule, version) -> dict:
    """A rule as API.md shows it, with its current version's content."""
    return {
        "id": rule.id,
        "status": rule.status,
        "version": rule.version,
        # Versions are numbered 1, 2, ... and never removed.
        "versions": rule.version,
        **{field: getattr(version, field) for field in _CONTENT},
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def version_body(version) -> dict:
    return {
        "rule_id": version.rule_id,
        "version": version.version,
        **{field: getattr(version, field) for field in _CONTENT},
        "created_at": version.created_at,
        "created_by": {
            "kind": version.created_by_kind,
            "name": version.created_by_name,
            "role": version.created_by_role,
            "key_id": version.created_by_key_id,
        },
    }


def simulation_body(simulation) -> dict:
    """A simulation, stored (queued, running, finished) or answered at once (a ``SimulationResult``)."""
    if not hasattr(simulation, "status"):
        return {
            "id": None,
            "status": "done",
            "progress": {"done": simulation.purchases_scanned, "total": simulation.purchases_scanned},
            "purchases_matched": simulation.purchases_matched,
            "members_affected": simulation.members_affected,
            "points": simulation.points,
            "error": None,
            "created_at": None,
            "finished_at": None,
        }
    return {
        "id": simulation.id,
        "status": simulation.status,
        "progress": {"done": simulation.done, "total": simulation.total},
        "from_": simulation.from_at,
        "to": simulation.to_at,
        "purchases_matched": simulation.purchases_matched,
        "members_affected": simulation.members_affected,
        "points": simulation.points,
        "error": simulation.error,
        "created_at": simulation.created_at,
        "finished_at": simulation.finished_at,
    }
