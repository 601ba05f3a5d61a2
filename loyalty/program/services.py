"""The program's settings."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.analytics.lifecycle import check_settings
from loyalty.audit.services import record_event
from loyalty.errors import ValidationFailed
from loyalty.program.models import Program
from loyalty.units import check_currency

DEFAULTS: dict[str, Any] = {
    "name": "Loyalty program",
    "currency": "EUR",
    "redemption_points": 100,
    "redemption_value_minor": 100,
    "pending_days": 14,
    "expiry_months": 24,
    "qualification_window_months": 12,
    "tier_grace_days": 30,
    "claim_window_days": 30,
    "timezone": "UTC",
    "merchants_may_write_rules": True,
    "merchant_max_multiplier_percent": None,
    "merchant_max_bonus_points": None,
    "merchant_max_points_per_item": None,
    "merchant_max_rate_points": None,
    "merchant_max_rate_per_minor": None,
    "merchant_max_budget_points": None,
    "merchant_require_budget": False,
    "merchant_allow_exclusive": False,
}

# The operator's limits on merchants' own rules: whole numbers of at least this, or null for no limit.
MERCHANT_RULE_LIMITS = {
    "merchant_max_multiplier_percent": 101,
    "merchant_max_bonus_points": 1,
    "merchant_max_points_per_item": 1,
    "merchant_max_rate_points": 1,
    "merchant_max_rate_per_minor": 1,
    "merchant_max_budget_points": 1,
}
MERCHANT_RULE_SWITCHES = ("merchants_may_write_rules", "merchant_require_budget", "merchant_allow_exclusive")

_TIMEZONES = frozenset(available_timezones())


def check_timezone(name: str, field: str = "timezone") -> str:
    """Return ``name`` if it is an IANA timezone, else raise ``ValidationFailed``."""
    if name not in _TIMEZONES:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(
                f"{name!r} is not an IANA timezone (for example Europe/Paris).",
                errors={field: ["Unknown timezone."]},
            ) from None
    return name


PROGRAM_ID = 1  # the one program's row


def get_program(session: Session) -> Program:
    """The program, created with defaults the first time it is read."""
    program = session.get(Program, PROGRAM_ID)
    if program is None:
        try:
            with session.begin_nested():
                program = Program(id=PROGRAM_ID, **DEFAULTS)
                session.add(program)
        except IntegrityError:
            # Another request created it first; theirs is the same defaults.
            program = session.get(Program, PROGRAM_ID, populate_existing=True)
    return program


def _check_merchant_rule_limits(program: Program, changes: dict[str, Any]) -> None:
    for field, minimum in MERCHANT_RULE_LIMITS.items():
        value = changes.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise ValidationFailed(
                f"{field} is a whole number of at least {minimum}, or null for no limit.",
                errors={field: [f"At least {minimum}, or null."]},
            )
    for field in MERCHANT_RULE_SWITCHES:
        if field in changes and not isinstance(changes[field], bool):
            raise ValidationFailed(f"{field} is true or false.", errors={field: ["Not a boolean."]})
    points = changes.get("merchant_max_rate_points", program.merchant_max_rate_points)
    per_minor = changes.get("merchant_max_rate_per_minor", program.merchant_max_rate_per_minor)
    if (points is None) != (per_minor is None):
        raise ValidationFailed(
            "The highest earning rate is points per minor units: give both, or neither for no limit.",
            errors={"merchant_max_rate_points": ["Give both or neither."]},
        )


def _lifecycle_settings(program: Program, patch: Any) -> dict[str, Any]:
    """The stored thresholds after a patch of some keys (null: back to the default), checked whole."""
    if not isinstance(patch, dict):
        raise ValidationFailed("lifecycle_settings is an object.", errors={"lifecycle_settings": ["Not an object."]})
    merged = {**(program.lifecycle_settings or {}), **patch}
    merged = {key: value for key, value in merged.items() if value is not None}
    check_settings(merged)
    return merged


def update_program(session: Session, *, changes: dict[str, Any], actor: Actor) -> Program:
    """Change some settings; every change is audited with old and new values."""
    program = get_program(session)
    if "currency" in changes:
        check_currency(changes["currency"])
    if "timezone" in changes:
        check_timezone(changes["timezone"])
    if "name" in changes and not str(changes["name"]).strip():
        raise ValidationFailed("The program needs a name.", errors={"name": ["Required."]})
    _check_merchant_rule_limits(program, changes)
    if "lifecycle_settings" in changes:
        changes = {**changes, "lifecycle_settings": _lifecycle_settings(program, changes["lifecycle_settings"])}
    diff = {}
    for field, value in changes.items():
        if not hasattr(Program, field) or field in ("id", "updated_at"):
            raise ValidationFailed(f"Unknown setting {field!r}.")
        old = getattr(program, field)
        if old != value:
            diff[field] = {"old": old, "new": value}
            setattr(program, field, value)
    session.flush()
    if diff:
        record_event(
            session,
            actor=actor,
            action="program.update",
            object_type="program",
            object_id="1",
            data=diff,
        )
    return program
