"""A rule as saved: validated, normalised, with its condition already checked."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rules.compiler import check_condition
from rules.errors import RuleError
from rules.facts import DEFAULT_FACTS, PERIODS, FactSchema

EFFECT_FIELDS: dict[str, tuple[str, ...]] = {
    "per_amount": ("points", "per_minor"),
    "per_item": ("points",),  # plus exactly one of sku, category
    "multiplier": ("percent",),
    "bonus": ("points",),
}
RULE_FIELDS = (
    "id",
    "version",
    "name",
    "priority",
    "stacking",
    "merchant_id",
    "starts_at",
    "ends_at",
    "condition",
    "effect",
    "limits",
)
STACKING = ("stack", "exclusive")
# Large enough for any real rule, small enough that sums of points stay exact everywhere.
MAX_INT = 10**12


@dataclass(frozen=True)
class Effect:
    """What a rule gives when it fires; only the fields of its type are set."""

    type: str
    points: int | None = None
    per_minor: int | None = None
    sku: str | None = None
    category: str | None = None
    percent: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data, with only the fields of its type."""
        return {"type": self.type, **{k: v for k, v in vars(self).items() if k != "type" and v is not None}}


@dataclass(frozen=True)
class Limits:
    """How often a rule may fire for one member, and how many points it may give in all."""

    times: int | None = None
    period: str | None = None
    budget_points: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The limits as JSON-ready data, in the shape they are written."""
        data: dict[str, Any] = {}
        if self.times is not None:
            data["per_member"] = {"times": self.times, "period": self.period}
        if self.budget_points is not None:
            data["budget_points"] = self.budget_points
        return data


@dataclass(frozen=True)
class RuleSpec:
    """A valid rule. ``id`` may be None before the rule is stored; a rule set needs it."""

    name: str
    effect: Effect
    condition: str = ""
    priority: int = 0
    stacking: str = "stack"
    merchant_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    limits: Limits = Limits()
    id: str | None = None
    version: int = 1

    @property
    def exclusive(self) -> bool:
        """Whether the rule ends the walk when it matches."""
        return self.stacking == "exclusive"

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data, in the shape of the API (timestamps stay datetimes)."""
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "priority": self.priority,
            "stacking": self.stacking,
            "merchant_id": self.merchant_id,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "condition": self.condition,
            "effect": self.effect.to_dict(),
            "limits": self.limits.to_dict(),
        }


def _fail(field: str, message: str, suggestion: str | None = None) -> RuleError:
    return RuleError(message, None, suggestion, field=field)


def _reject_unknown(data: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            raise _fail(f"{prefix}{key}", f"unknown field {key!r}", close[0] if close else None)


def _integer(value: Any, field: str, *, minimum: int | None = 1) -> int:
    # bool is an int in Python, and 2.0 or "2" are not integers: all three are rejected.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be a whole number, not {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(field, "must be a positive whole number" if minimum == 1 else f"must be at least {minimum}")
    if abs(value) > MAX_INT:
        raise _fail(field, f"must be at most {MAX_INT}")
    return value


def _text(value: Any, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "must be a non-empty string")
    return value


def _timestamp(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(field, "must be an ISO 8601 timestamp with an offset") from None
    if not isinstance(value, datetime):
        raise _fail(field, "must be a timestamp")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail(field, "needs a UTC offset (e.g. 2026-11-22T00:00:00+01:00)")
    return value


def check_effect(data: Any) -> Effect:
    """Validate an effect dict; RuleError names the faulty field."""
    if not isinstance(data, Mapping):
        raise _fail("effect", "must be an object with a type")
    kind = data.get("type")
    if kind not in EFFECT_FIELDS:
        close = difflib.get_close_matches(str(kind), list(EFFECT_FIELDS), n=1)
        raise _fail("effect.type", f"must be one of {', '.join(EFFECT_FIELDS)}", close[0] if close else None)
    known = ("type", *EFFECT_FIELDS[kind], *(("sku", "category") if kind == "per_item" else ()))
    _reject_unknown(data, known, "effect.")
    for name in EFFECT_FIELDS[kind]:
        if name not in data:
            raise _fail(f"effect.{name}", f"is required for a {kind} effect")
    values = {name: _integer(data[name], f"effect.{name}") for name in EFFECT_FIELDS[kind]}
    if kind == "multiplier" and values["percent"] <= 100:
        raise _fail(
            "effect.percent",
            "is the new total as a percentage of the base points (200 doubles them); it must be above 100",
        )
    if kind == "per_item":
        targets = [name for name in ("sku", "category") if data.get(name) is not None]
        if len(targets) != 1:
            raise _fail("effect", "a per_item effect names exactly one of sku or category")
        values[targets[0]] = _text(data[targets[0]], f"effect.{targets[0]}")
    return Effect(kind, **values)


def check_limits(data: Any) -> Limits:
    """Validate a limits dict (both parts optional); RuleError names the faulty field."""
    if data is None:
        return Limits()
    if not isinstance(data, Mapping):
        raise _fail("limits", "must be an object")
    _reject_unknown(data, ("per_member", "budget_points"), "limits.")
    times = period = budget = None
    per_member = data.get("per_member")
    if per_member is not None:
        if not isinstance(per_member, Mapping):
            raise _fail("limits.per_member", "must be an object with times and period")
        _reject_unknown(per_member, ("times", "period"), "limits.per_member.")
        if "times" not in per_member:
            raise _fail("limits.per_member.times", "is required")
        times = _integer(per_member["times"], "limits.per_member.times")
        period = per_member.get("period")
        if period not in PERIODS:
            close = difflib.get_close_matches(str(period), PERIODS, n=1)
            raise _fail("limits.per_member.period", f"must be one of {', '.join(PERIODS)}", close[0] if close else None)
    if data.get("budget_points") is not None:
        budget = _integer(data["budget_points"], "limits.budget_points")
    return Limits(times, period, budget)


def check_rule(data: Mapping[str, Any] | RuleSpec, schema: FactSchema = DEFAULT_FACTS) -> RuleSpec:
    """Validate a rule as written (the API's JSON) and return it normalised; raise RuleError."""
    if isinstance(data, RuleSpec):
        data = data.to_dict()
    if not isinstance(data, Mapping):
        raise _fail("rule", "must be an object")
    _reject_unknown(data, RULE_FIELDS, "")
    condition = data.get("condition") or ""
    if not isinstance(condition, str):
        raise _fail("condition", "must be a string (empty for always)")
    check_condition(condition, schema)
    if "effect" not in data:
        raise _fail("effect", "is required")
    stacking = data.get("stacking", "stack")
    if stacking not in STACKING:
        close = difflib.get_close_matches(str(stacking), STACKING, n=1)
        raise _fail("stacking", "must be stack or exclusive", close[0] if close else None)
    starts_at = _timestamp(data.get("starts_at"), "starts_at")
    ends_at = _timestamp(data.get("ends_at"), "ends_at")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise _fail("ends_at", "must be after starts_at")
    return RuleSpec(
        id=_text(data.get("id"), "id", optional=True),
        version=_integer(data.get("version", 1), "version"),
        name=_text(data.get("name"), "name"),
        priority=_integer(data.get("priority", 0), "priority", minimum=None),
        stacking=stacking,
        merchant_id=_text(data.get("merchant_id"), "merchant_id", optional=True),
        starts_at=starts_at,
        ends_at=ends_at,
        condition=condition,
        effect=check_effect(data["effect"]),
        limits=check_limits(data.get("limits")),
    )
