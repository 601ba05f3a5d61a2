"""The rules engine: facts in, decisions out. No database, no I/O.

Saving a rule (answer 422 ``invalid_rule`` with ``error.to_dict()`` on failure)::

    spec = check_rule(data)                  # RuleSpec, or raises RuleError(message, position, suggestion)

Scoring a purchase::

    ruleset = RuleSet.build(active_rules, version=7)        # once per version of the active rules
    facts = purchase_facts(items=..., total_minor=..., currency=..., merchant_id=..., store_id=...,
                           occurred_at=..., timezone=store.timezone)
    facts |= member_facts(tier=..., purchase_count=..., enrolled_at=..., last_purchase_at=...,
                          lifecycle_stage=..., birth_month=..., occurred_at=..., timezone=store.timezone)
    keys = ruleset.usage_keys(facts)         # {rule_id: "day:2026-11-22"}: the counters to read
    budgets = ruleset.budget_rule_ids(facts) # the budgets to read
    decision = ruleset.score(facts, usage={...}, budget_remaining={...})
    decision.points, decision.breakdown      # Line(rule_id, rule_name, rule_version, points, period_key)

``score(..., explain=True)`` also returns ``skipped``: every rule that did not fire
with a ``SkipReason``. Semantics are in docs/rules.md.
"""

from rules.compiler import CompiledCondition, compile_condition
from rules.errors import FactError, RuleError
from rules.facts import (
    DEFAULT_FACTS,
    PERIODS,
    WEEKDAYS,
    Fact,
    FactSchema,
    FactType,
    member_facts,
    period_key,
    purchase_facts,
)
from rules.ruleset import RuleSet, compile_rule
from rules.scoring import CompiledRule, Decision, Line, Skip, SkipReason
from rules.spec import Effect, Limits, RuleSpec, check_rule

__all__ = [
    "DEFAULT_FACTS",
    "PERIODS",
    "WEEKDAYS",
    "CompiledCondition",
    "CompiledRule",
    "Decision",
    "Effect",
    "Fact",
    "FactError",
    "FactSchema",
    "FactType",
    "Limits",
    "Line",
    "RuleError",
    "RuleSet",
    "RuleSpec",
    "Skip",
    "SkipReason",
    "check_rule",
    "compile_condition",
    "compile_rule",
    "member_facts",
    "period_key",
    "purchase_facts",
]
