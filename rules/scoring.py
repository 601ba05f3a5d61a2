"""How the rules that apply to a purchase turn into points: the walk, multipliers, limits, budgets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rules.compiler import CompiledCondition, Test
from rules.facts import UNITS_BY_CATEGORY, UNITS_BY_SKU, period_key
from rules.spec import RuleSpec

BASE, MULTIPLIER, BONUS = 0, 1, 2


class SkipReason(StrEnum):
    """Why a rule did not add points to a purchase."""

    NOT_IN_SCOPE = "not_in_scope"  # another merchant's rule
    OUT_OF_WINDOW = "out_of_window"  # occurred_at outside [starts_at, ends_at)
    CONDITION_FALSE = "condition_false"
    LIMIT_REACHED = "limit_reached"  # the member's per-period count is used up
    BUDGET_SPENT = "budget_spent"  # what is left of the budget cannot cover its points
    AFTER_EXCLUSIVE = "after_exclusive"  # an exclusive rule above it matched
    LOWER_MULTIPLIER = "lower_multiplier"  # a higher multiplier applied instead
    NO_POINTS = "no_points"  # it matched but its effect rounds to 0 points


@dataclass(frozen=True, slots=True)
class Line:
    """One rule that fired and the points it added (a multiplier: the extra points).

    ``period_key`` is the per-member counter the rule uses up ('day:2026-11-22'),
    None when the rule has no per-member limit.
    """

    rule_id: str
    rule_name: str
    rule_version: int
    points: int
    period_key: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule that did not fire, and why."""

    rule_id: str
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Decision:
    """The points of a purchase; ``breakdown`` sums exactly to ``points``.

    ``skipped`` is filled only when scoring with ``explain=True``.
    """

    points: int
    breakdown: tuple[Line, ...]
    skipped: tuple[Skip, ...] = ()
    ruleset_version: Any = None


def _amount(spec: RuleSpec) -> Callable[[Mapping[str, Any]], int]:
    effect = spec.effect
    points = effect.points or 0
    if effect.type == "per_amount":
        per_minor = effect.per_minor or 1
        return lambda f: f["purchase.total_minor"] // per_minor * points
    if effect.type == "per_item" and effect.sku is not None:
        sku = effect.sku
        return lambda f: f[UNITS_BY_SKU].get(sku, 0) * points
    if effect.type == "per_item":
        category = effect.category
        return lambda f: f[UNITS_BY_CATEGORY].get(category, 0) * points
    return lambda f: points


class CompiledRule:
    """A rule compiled once: its condition as a function and its effect ready to apply."""

    __slots__ = (
        "amount",
        "budget",
        "condition",
        "exclusive",
        "hours",
        "id",
        "kind",
        "merchant_id",
        "name",
        "percent",
        "period",
        "priority",
        "spec",
        "times",
        "version",
        "weekdays",
    )

    def __init__(self, spec: RuleSpec, condition: CompiledCondition) -> None:
        self.spec = spec
        self.condition = condition
        self.id = spec.id or ""
        self.name = spec.name
        self.version = spec.version
        self.priority = spec.priority
        self.exclusive = spec.exclusive
        self.merchant_id = spec.merchant_id
        kind = spec.effect.type
        self.kind = MULTIPLIER if kind == "multiplier" else BONUS if kind == "bonus" else BASE
        self.amount = _amount(spec)
        self.percent = spec.effect.percent or 0
        self.times = spec.limits.times
        self.period = spec.limits.period
        self.budget = spec.limits.budget_points
        self.weekdays = condition.allowed.get("purchase.local_weekday")
        self.hours = condition.allowed.get("purchase.local_hour")

    def matches(self, facts: Mapping[str, Any]) -> bool:
        """Whether the condition holds for these facts (windows and scope aside)."""
        test = self.condition.test
        return True if test is None else bool(test(facts))

    def in_window(self, at: datetime) -> bool:
        """Whether an aware instant falls in [starts_at, ends_at)."""
        spec = self.spec
        return (spec.starts_at is None or spec.starts_at <= at) and (spec.ends_at is None or at < spec.ends_at)

    def __repr__(self) -> str:
        return f"<CompiledRule {self.id} {self.name!r} v{self.version}>"


Entry = tuple[CompiledRule, Test | None]


def settle(
    entries: Sequence[Entry],
    facts: Mapping[str, Any],
    at: datetime,
    usage: Mapping[str, int] | None,
    budget_remaining: Mapping[str, int] | None,
    reasons: dict[str, SkipReason] | None,
) -> tuple[int, tuple[Line, ...]]:
    """Walk candidate rules (in scope and window, in walk order) and return points and lines.

    A rule over its per-member limit or its budget is treated as if its condition
    were false: it does not end the walk, and the points are computed again
    without it until no rule is over.
    """
    excluded: set[CompiledRule] = set()
    while True:
        matched: list[CompiledRule] = []
        for position, (rule, test) in enumerate(entries):
            if rule in excluded:
                if reasons is not None:
                    reasons[rule.id] = SkipReason.BUDGET_SPENT
                continue
            if test is not None and not test(facts):
                if reasons is not None:
                    reasons[rule.id] = SkipReason.CONDITION_FALSE
                continue
            if rule.times is not None and usage is not None and usage.get(rule.id, 0) >= rule.times:
                if reasons is not None:
                    reasons[rule.id] = SkipReason.LIMIT_REACHED
                continue
            matched.append(rule)
            if rule.exclusive:
                if reasons is not None:
                    for later, _ in entries[position + 1 :]:
                        reasons[later.id] = SkipReason.AFTER_EXCLUSIVE
                break
        if not matched:
            return 0, ()

        amounts: list[int] = []
        base = 0
        multiplier: CompiledRule | None = None
        for rule in matched:
            if rule.kind == MULTIPLIER:
                amounts.append(0)
                # Ties go to the rule walked first (higher priority, then smaller id).
                if multiplier is None or rule.percent > multiplier.percent:
                    multiplier = rule
            else:
                amount = rule.amount(facts)
                amounts.append(amount)
                if rule.kind == BASE:
                    base += amount
        if multiplier is not None:
            # Floor of the multiplied base, minus the base: the extra points, rounded down.
            amounts[matched.index(multiplier)] = base * multiplier.percent // 100 - base

        over = _over_budget(matched, amounts, multiplier, budget_remaining)
        if over is not None:
            excluded.update(over)
            continue

        lines: list[Line] = []
        total = 0
        for rule, amount in zip(matched, amounts, strict=True):
            if amount <= 0:
                if reasons is not None:
                    lower = rule.kind == MULTIPLIER and rule is not multiplier
                    reasons[rule.id] = SkipReason.LOWER_MULTIPLIER if lower else SkipReason.NO_POINTS
                continue
            key = period_key(rule.period, at) if rule.times is not None else None
            lines.append(Line(rule.id, rule.name, rule.version, amount, key))
            total += amount
            if reasons is not None:
                reasons.pop(rule.id, None)
        return total, tuple(lines)


def _over_budget(
    matched: list[CompiledRule],
    amounts: list[int],
    multiplier: CompiledRule | None,
    budget_remaining: Mapping[str, int] | None,
) -> list[CompiledRule] | None:
    """The rules to drop for their budget this round, or None when every budget covers its rule.

    Base and bonus amounts do not depend on other rules, so all of those over budget go
    at once; a multiplier's extra depends on the base, so it is judged only after them.
    """
    fixed: list[CompiledRule] = []
    multiplier_over = False
    for rule, amount in zip(matched, amounts, strict=True):
        if rule.budget is None or amount <= 0:
            continue
        left = rule.budget if budget_remaining is None else budget_remaining.get(rule.id, rule.budget)
        if amount > left:
            if rule is multiplier:
                multiplier_over = True
            else:
                fixed.append(rule)
    if fixed:
        return fixed
    if multiplier_over:
        return [multiplier]  # type: ignore[list-item]
    return None
