"""Earning rules: write, version, activate and pause them, within the operator's limits on merchants' rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.earning.models import Rule, RuleVersion
from loyalty.earning.ruleset import bump_ruleset_version, version_spec
from loyalty.errors import Forbidden, InvalidRule, InvalidState, NotFound
from loyalty.merchants.services import get_merchant
from loyalty.program.services import get_program
from loyalty.text import has_control_characters, usable_id
from rules import RuleError, RuleSpec, check_rule

DRAFT, ACTIVE, PAUSED = "draft", "active", "paused"
STATUSES = (DRAFT, ACTIVE, PAUSED)
FIELDS = ("name", "priority", "stacking", "merchant_id", "starts_at", "ends_at", "condition", "effect", "limits")
WRITERS = (Role.ADMIN, Role.MARKETER, Role.MERCHANT)
# What the database stores: (field, longest, whether line breaks are allowed).
TEXT_FIELDS = (("name", 200, False), ("condition", 10_000, True))
EFFECT_TEXT_FIELDS = ("type", "sku", "category")
MAX_EFFECT_TEXT = 100


# ---- reading -------------------------------------------------------------------------------


def get_rule(session: Session, rule_id: str, *, actor: Actor, for_update: bool = False) -> Rule:
    """A rule the actor may see: a merchant sees only its own, neither the operator's nor another merchant's."""
    rule = None
    if usable_id(rule_id):
        options = {"with_for_update": True, "populate_existing": True} if for_update else {}
        rule = session.get(Rule, rule_id, **options)
    if rule is None or not actor.sees_merchant(rule.merchant_id):
        raise NotFound("No such rule.")
    return rule


def current_version(session: Session, rule: Rule) -> RuleVersion:
    """The version of a rule that is in force (for a draft, the one being written)."""
    return session.get(RuleVersion, (rule.id, rule.version))


# ---- checking ------------------------------------------------------------------------------


def _invalid(error: RuleError, **extra: Any) -> InvalidRule:
    return InvalidRule(f"The rule cannot be saved: {error}", errors=error.to_dict() | extra)


def _check_storable(data: Mapping[str, Any]) -> None:
    # The engine judges what a rule means; this is what the database can keep.
    checks = [(field, data.get(field), longest, multiline) for field, longest, multiline in TEXT_FIELDS]
    effect = data.get("effect")
    if isinstance(effect, Mapping):
        checks += [(f"effect.{key}", effect.get(key), MAX_EFFECT_TEXT, False) for key in EFFECT_TEXT_FIELDS]
    for field, value, longest, multiline in checks:
        if not isinstance(value, str):
            continue
        if has_control_characters(value, multiline=multiline):
            raise _invalid(RuleError("contains control characters", field=field))
        if len(value) > longest:
            raise _invalid(RuleError(f"is longer than {longest} characters", field=field))


def _require_writer(session: Session, actor: Actor) -> None:
    if actor.role not in WRITERS and not actor.is_admin:
        raise Forbidden("This key may not write earning rules.")
    if actor.role is Role.MERCHANT and not get_program(session).merchants_may_write_rules:
        raise Forbidden("The program operator does not let merchants write rules.")


def _exceeds(field: str, limit: str, message: str) -> InvalidRule:
    return _invalid(RuleError(f"{message} (the operator's limit {limit})", field=field), limit=limit)


def check_merchant_limits(session: Session, spec: RuleSpec) -> None:
    """Raise ``InvalidRule`` naming the limit when a merchant's rule goes beyond the operator's limits."""
    program = get_program(session)
    effect, limits = spec.effect, spec.limits
    if spec.exclusive and not program.merchant_allow_exclusive:
        raise _exceeds(
            "stacking", "allow_exclusive", "a merchant's rule may not be exclusive: it would end the operator's rules"
        )
    cap = program.merchant_max_multiplier_percent
    if effect.type == "multiplier" and cap is not None and effect.percent > cap:
        raise _exceeds("effect.percent", "max_multiplier_percent", f"a multiplier may be at most {cap} percent")
    cap = program.merchant_max_bonus_points
    if effect.type == "bonus" and cap is not None and effect.points > cap:
        raise _exceeds("effect.points", "max_bonus_points", f"a bonus may give at most {cap} points")
    cap = program.merchant_max_points_per_item
    if effect.type == "per_item" and cap is not None and effect.points > cap:
        raise _exceeds("effect.points", "max_points_per_item", f"a per-item effect may give at most {cap} points")
    points, per_minor = program.merchant_max_rate_points, program.merchant_max_rate_per_minor
    # points / per_minor <= cap_points / cap_per_minor, in integers.
    if effect.type == "per_amount" and points is not None and effect.points * per_minor > points * effect.per_minor:
        raise _exceeds(
            "effect.points", "max_earn_rate", f"an amount effect may give at most {points} points per {per_minor}"
        )
    cap = program.merchant_max_budget_points
    if program.merchant_require_budget and limits.budget_points is None:
        raise _exceeds("limits.budget_points", "require_budget", "a merchant's rule needs a budget")
    if cap is not None and limits.budget_points is not None and limits.budget_points > cap:
        raise _exceeds("limits.budget_points", "max_budget_points", f"a budget may be at most {cap} points")


def _check(session: Session, data: Mapping[str, Any], actor: Actor) -> RuleSpec:
    """The rule as it will be stored, or ``InvalidRule``."""
    _check_storable(data)
    try:
        spec = check_rule({field: data[field] for field in FIELDS if field in data})
    except RuleError as error:
        raise _invalid(error) from None
    if spec.merchant_id is not None:
        try:
            get_merchant(session, spec.merchant_id, actor=actor)
        except NotFound:
            # The same answer for a merchant that does not exist and for another merchant's id.
            raise _invalid(RuleError("no such merchant", field="merchant_id")) from None
    if actor.role is Role.MERCHANT:
        check_merchant_limits(session, spec)
    return spec


def _stored(spec: RuleSpec) -> dict[str, Any]:
    """A spec as the columns of a version hold it."""
    return {
        "name": spec.name,
        "priority": spec.priority,
        "stacking": spec.stacking,
        "merchant_id": spec.merchant_id,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "condition": spec.condition,
        "effect": spec.effect.to_dict(),
        "limits": spec.limits.to_dict(),
    }


def _write(version: RuleVersion, spec: RuleSpec, actor: Actor) -> None:
    for field, value in _stored(spec).items():
        setattr(version, field, value)
    version.created_at = utcnow()
    version.created_by_kind = actor.kind
    version.created_by_name = actor.name
    version.created_by_role = actor.role.value if actor.role else None
    version.created_by_key_id = actor.key_id


def _audit(session: Session, rule: Rule, action: str, actor: Actor, **data: Any) -> None:
    record_event(
        session,
        actor=actor,
        action=action,
        object_type="rule",
        object_id=rule.id,
        merchant_id=rule.merchant_id,
        data={"version": rule.version, "status": rule.status, **data},
    )


# ---- writing -------------------------------------------------------------------------------


def check_new_rule(session: Session, *, rule: Mapping[str, Any], actor: Actor) -> RuleSpec:
    """A new rule as it would be saved (``InvalidRule`` says what to fix); nothing is written.

    A merchant's rule is always its own: ``merchant_id`` defaults to it, and an
    operator-wide rule (``merchant_id`` null) is ``Forbidden`` to it.
    """
    data = dict(rule)
    if actor.role is Role.MERCHANT:
        if "merchant_id" in data and data["merchant_id"] is None:
            raise Forbidden("Only the program operator writes operator-wide rules (merchant_id null).")
        data.setdefault("merchant_id", actor.merchant_id)
    return _check(session, data, actor)


def create_rule(session: Session, *, rule: Mapping[str, Any], actor: Actor, campaign_id: str | None = None) -> Rule:
    """Save a new rule as a draft (version 1); ``InvalidRule`` says what to fix.

    A merchant's rule is always its own: ``merchant_id`` defaults to it, and an
    operator-wide rule (``merchant_id`` null) is the operator's alone. A
    campaign's rule (``campaign_id``) fires only for that campaign's treatment group.
    """
    _require_writer(session, actor)
    spec = check_new_rule(session, rule=rule, actor=actor)
    row = Rule(merchant_id=spec.merchant_id, status=DRAFT, version=1, campaign_id=campaign_id)
    session.add(row)
    session.flush()
    version = RuleVersion(rule_id=row.id, version=1)
    _write(version, spec, actor)
    session.add(version)
    session.flush()
    _audit(session, row, "rule.create", actor, name=spec.name)
    return row


def update_rule(session: Session, *, rule_id: str, changes: Mapping[str, Any], actor: Actor) -> Rule:
    """Change a rule. A draft is edited in place; an active or paused rule gets a new version.

    The versions before stay for the record, and an active rule's change takes
    effect for the next purchase.
    """
    rule = get_rule(session, rule_id, actor=actor, for_update=True)
    _require_writer(session, actor)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise _invalid(RuleError(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0]))
    if "merchant_id" in changes and changes["merchant_id"] != rule.merchant_id:
        raise _invalid(RuleError("cannot change; write a new rule for another merchant", field="merchant_id"))
    current = current_version(session, rule)
    before = {field: getattr(current, field) for field in FIELDS}
    spec = _check(session, {**before, **changes}, actor)
    after = _stored(spec)
    changed = [field for field in FIELDS if after[field] != before[field]]
    if not changed:
        return rule
    if rule.status == DRAFT:
        _write(current, spec, actor)
    else:
        rule.version += 1
        version = RuleVersion(rule_id=rule.id, version=rule.version)
        _write(version, spec, actor)
        session.add(version)
        if rule.status == ACTIVE:
            bump_ruleset_version(session)
    rule.updated_at = utcnow()
    session.flush()
    _audit(session, rule, "rule.update", actor, fields=changed)
    return rule


def activate_rule(session: Session, *, rule_id: str, actor: Actor) -> Rule:
    """Make a draft or paused rule count from the next purchase (an active rule stays as it is)."""
    rule = get_rule(session, rule_id, actor=actor, for_update=True)
    _require_writer(session, actor)
    if rule.status == ACTIVE:
        return rule
    try:
        spec = check_rule(version_spec(current_version(session, rule)))
    except RuleError as error:
        raise _invalid(error) from None
    if actor.role is Role.MERCHANT:
        # The operator may have tightened the limits since the rule was written.
        check_merchant_limits(session, spec)
    rule.status = ACTIVE
    rule.updated_at = utcnow()
    bump_ruleset_version(session)
    session.flush()
    _audit(session, rule, "rule.activate", actor)
    return rule


def pause_rule(session: Session, *, rule_id: str, actor: Actor) -> Rule:
    """Stop an active rule counting from the next purchase (a paused rule stays as it is)."""
    rule = get_rule(session, rule_id, actor=actor, for_update=True)
    if actor.role not in WRITERS and not actor.is_admin:
        raise Forbidden("This key may not write earning rules.")
    if rule.status == PAUSED:
        return rule
    if rule.status == DRAFT:
        raise InvalidState("A draft has never been active; there is nothing to pause.")
    rule.status = PAUSED
    rule.updated_at = utcnow()
    bump_ruleset_version(session)
    session.flush()
    _audit(session, rule, "rule.pause", actor)
    return rule
