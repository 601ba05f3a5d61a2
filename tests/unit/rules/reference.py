"""A straightforward reference: a tree-walking interpreter and a scorer without any index.

Slow on purpose and written from the contract, so the compiled, indexed engine
can be checked against it on random rules and facts.
"""

from __future__ import annotations

from typing import Any

from rules import RuleSpec, period_key
from rules.parser import BoolOp, Compare, FactRef, ListLiteral, Literal, Node, Not, parse


def evaluate(node: Node | None, facts: dict[str, Any]) -> Any:
    """The value of a syntax tree for these facts (None means an empty condition: true)."""
    if node is None:
        return True
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, FactRef):
        return facts[node.name]
    if isinstance(node, ListLiteral):
        return [item.value for item in node.items]
    if isinstance(node, Not):
        return not evaluate(node.operand, facts)
    if isinstance(node, BoolOp):
        values = [evaluate(operand, facts) for operand in node.operands]
        return all(values) if node.op == "and" else any(values)
    assert isinstance(node, Compare)
    left, right = evaluate(node.left, facts), evaluate(node.right, facts)
    if node.op == "in":
        return left in right
    if node.op == "not in":
        return left not in right
    if node.op == "==":
        return left == right
    if node.op == "!=":
        return left != right
    if left is None or right is None:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[node.op]


def effect_points(spec: RuleSpec, facts: dict[str, Any]) -> int:
    """Points of a base or bonus effect, from the basket's items."""
    effect = spec.effect
    if effect.type == "per_amount":
        return (facts["purchase.total_minor"] // effect.per_minor) * effect.points
    if effect.type == "per_item":
        units = facts["purchase.units_by_sku"] if effect.sku else facts["purchase.units_by_category"]
        return units.get(effect.sku or effect.category, 0) * effect.points
    return effect.points


def reference_score(
    specs: list[RuleSpec], facts: dict[str, Any], usage: dict[str, int], budgets: dict[str, int]
) -> tuple[int, list[tuple[str, int, str | None]]]:
    """Points and (rule id, points, period key) lines, following docs/rules.md literally."""
    at = facts["purchase.occurred_at"]
    walk = [
        spec
        for spec in sorted(specs, key=lambda s: (-s.priority, s.id))
        if spec.merchant_id in (None, facts["purchase.merchant_id"])
        and (spec.starts_at is None or spec.starts_at <= at)
        and (spec.ends_at is None or at < spec.ends_at)
    ]
    dropped: set[str] = set()
    while True:
        matched = []
        for spec in walk:
            if spec.id in dropped or not evaluate(parse(spec.condition), facts):
                continue
            if spec.limits.times is not None and usage.get(spec.id, 0) >= spec.limits.times:
                continue
            matched.append(spec)
            if spec.exclusive:
                break
        points = {s.id: effect_points(s, facts) for s in matched if s.effect.type != "multiplier"}
        base = sum(points[s.id] for s in matched if s.effect.type in ("per_amount", "per_item"))
        multipliers = [s for s in matched if s.effect.type == "multiplier"]
        best = max(multipliers, key=lambda s: s.effect.percent, default=None)  # max keeps the first of equals
        for spec in multipliers:
            points[spec.id] = (base * spec.effect.percent // 100 - base) if spec is best else 0

        def over(spec: RuleSpec) -> bool:
            left = budgets.get(spec.id, spec.limits.budget_points)
            return spec.limits.budget_points is not None and points[spec.id] > 0 and points[spec.id] > left  # noqa: B023

        fixed_over = {s.id for s in matched if s is not best and over(s)}
        if fixed_over:
            dropped |= fixed_over
            continue
        if best is not None and over(best):
            dropped.add(best.id)
            continue
        lines = [
            (s.id, points[s.id], period_key(s.limits.period, at) if s.limits.times else None)
            for s in matched
            if points[s.id] > 0
        ]
        return sum(p for _, p, _ in lines), lines
