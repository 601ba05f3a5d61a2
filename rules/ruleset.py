"""A version of the rule set, compiled and indexed once, scoring purchases."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from rules.compiler import compile_condition
from rules.errors import FactError, RuleError
from rules.facts import DEFAULT_FACTS, OCCURRED_AT, FactSchema, period_key
from rules.scoring import CompiledRule, Decision, Entry, Skip, SkipReason, settle
from rules.spec import RuleSpec, check_rule

MERCHANT = "purchase.merchant_id"
WEEKDAY = "purchase.local_weekday"
HOUR = "purchase.local_hour"
# Candidate lists are cached per (merchant, window epoch, weekday, hour). The keys a
# live service sees are few (today's epoch), so the cache is simply emptied when full.
CACHE_LIMIT = 200_000


def compile_rule(rule: RuleSpec | Mapping[str, Any], schema: FactSchema = DEFAULT_FACTS) -> CompiledRule:
    """Check a rule and compile its condition once; raise RuleError when it is invalid."""
    spec = check_rule(rule, schema) if not isinstance(rule, RuleSpec) else rule
    condition = compile_condition(spec.condition, schema, spec.id or spec.name)
    return CompiledRule(spec, condition)


def _get(facts: Mapping[str, Any], name: str) -> Any:
    try:
        return facts[name]
    except KeyError:
        raise FactError(f"missing fact {name!r}", field=name) from None


class RuleSet:
    """The active rules of one version, indexed for scoring.

    The index narrows a purchase to the rules that can apply before any condition
    runs: by merchant scope (the operator's rules plus the merchant's own), by
    date window (the instants where some rule starts or ends cut time into epochs
    in which the set of rules in their window is fixed), and by the purchase's local
    weekday and hour when a rule's condition requires them.
    """

    def __init__(self, rules: Iterable[CompiledRule], version: Any = None) -> None:
        self.version = version
        ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
        seen: set[str] = set()
        for rule in ordered:
            if not rule.id:
                raise RuleError("a rule in a rule set needs an id", field="id")
            if rule.id in seen:
                raise RuleError(f"rule {rule.id!r} appears twice", field="id")
            seen.add(rule.id)
        self.rules: tuple[CompiledRule, ...] = tuple(ordered)
        self._by_id = {rule.id: rule for rule in ordered}
        # POSIX timestamps rather than datetimes: comparing datetimes of different zones
        # costs a UTC-offset look-up each time. Distinct microseconds stay distinct floats.
        instants = {t.timestamp() for r in ordered for t in (r.spec.starts_at, r.spec.ends_at) if t is not None}
        self._boundaries: list[float] = sorted(instants)
        # Epoch i is [boundaries[i-1], boundaries[i]); a rule is in its window in epochs lo..hi-1.
        self._epochs: dict[CompiledRule, tuple[int, int]] = {}
        for rule in ordered:
            starts, ends = rule.spec.starts_at, rule.spec.ends_at
            lo = 0 if starts is None else bisect_left(self._boundaries, starts.timestamp()) + 1
            hi = len(self._boundaries) + 1 if ends is None else bisect_left(self._boundaries, ends.timestamp()) + 1
            self._epochs[rule] = (lo, hi)
        self._operator = tuple(r for r in ordered if r.merchant_id is None)
        self._merchant_rules: dict[str, list[CompiledRule]] = {}
        for rule in ordered:
            if rule.merchant_id is not None:
                self._merchant_rules.setdefault(rule.merchant_id, []).append(rule)
        self._scopes: dict[str, tuple[CompiledRule, ...]] = {}
        self._candidates: dict[tuple[Any, ...], tuple[Entry, ...]] = {}

    @classmethod
    def build(
        cls,
        rules: Iterable[RuleSpec | Mapping[str, Any] | CompiledRule],
        *,
        version: Any = None,
        schema: FactSchema = DEFAULT_FACTS,
    ) -> RuleSet:
        """Compile and index the active rules of a version (each with an id)."""
        compiled = [r if isinstance(r, CompiledRule) else compile_rule(r, schema) for r in rules]
        return cls(compiled, version)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> CompiledRule | None:
        """The compiled rule with this id, or None."""
        return self._by_id.get(rule_id)

    def scope(self, merchant_id: str | None) -> tuple[CompiledRule, ...]:
        """The rules that may apply at a merchant (operator's and its own), in walk order."""
        scope = self._scopes.get(merchant_id)  # type: ignore[arg-type]
        if scope is None:
            own = self._merchant_rules.get(merchant_id, []) if merchant_id is not None else []
            scope = tuple(sorted([*self._operator, *own], key=lambda r: (-r.priority, r.id)))
            self._scopes[merchant_id] = scope  # type: ignore[index]
        return scope

    def _epoch(self, at: datetime) -> int:
        return bisect_right(self._boundaries, at.timestamp()) if self._boundaries else 0

    def candidates(self, facts: Mapping[str, Any]) -> tuple[Entry, ...]:
        """The rules that can apply to these facts, each with what remains of its condition."""
        try:
            key = (facts[MERCHANT], self._epoch(facts[OCCURRED_AT]), facts[WEEKDAY], facts[HOUR])
        except KeyError as missing:
            raise FactError(f"missing fact {missing.args[0]!r}", field=str(missing.args[0])) from None
        entries = self._candidates.get(key)
        if entries is None:
            merchant, epoch, weekday, hour = key
            entries = tuple(
                (rule, rule.condition.residual)
                for rule in self.scope(merchant)
                if self._epochs[rule][0] <= epoch < self._epochs[rule][1]
                and (rule.weekdays is None or weekday in rule.weekdays)
                and (rule.hours is None or hour in rule.hours)
            )
            if len(self._candidates) >= CACHE_LIMIT:
                self._candidates.clear()
            self._candidates[key] = entries
        return entries

    def score(
        self,
        facts: Mapping[str, Any],
        *,
        usage: Mapping[str, int] | None = None,
        budget_remaining: Mapping[str, int] | None = None,
        explain: bool = False,
        excluded: Collection[str] | None = None,
    ) -> Decision:
        """Score one purchase: the points and the rules that gave them (and, explained, those that did not).

        ``usage`` maps a rule id to how many times the rule already fired for this
        member in the rule's current period (see ``usage_keys``); ``budget_remaining``
        maps a rule id to the points left in its budget. A rule missing from either
        is taken as unused. The rules of ``excluded`` are left out, as if not active.
        """
        try:
            if explain:
                return self._explain(facts, usage, budget_remaining, excluded)
            entries = self.candidates(facts)
            if excluded:
                entries = tuple(entry for entry in entries if entry[0].id not in excluded)
            points, lines = settle(entries, facts, facts[OCCURRED_AT], usage, budget_remaining, None)
        except KeyError as missing:
            raise FactError(f"missing fact {missing.args[0]!r}", field=str(missing.args[0])) from None
        except (TypeError, AttributeError) as wrong:
            # Conditions are type-checked when saved, so this is a caller's fact of the wrong type.
            raise FactError(f"a fact has the wrong type ({wrong}); see FactSchema.check_facts", field="facts") from None
        return Decision(points, lines, (), self.version)

    def _explain(
        self,
        facts: Mapping[str, Any],
        usage: Mapping[str, int] | None,
        budget_remaining: Mapping[str, int] | None,
        excluded: Collection[str] | None = None,
    ) -> Decision:
        # The slow path: every rule in scope, whole conditions, a reason for each rule.
        at = facts[OCCURRED_AT]
        reasons: dict[str, SkipReason] = {}
        entries: list[Entry] = []
        for rule in self.scope(facts[MERCHANT]):
            if excluded and rule.id in excluded:
                continue  # as if not active: not in scope
            if rule.in_window(at):
                entries.append((rule, rule.condition.test))
            else:
                reasons[rule.id] = SkipReason.OUT_OF_WINDOW
        points, lines = settle(entries, facts, at, usage, budget_remaining, reasons)
        fired = {line.rule_id for line in lines}
        skipped = tuple(
            Skip(rule.id, reasons.get(rule.id, SkipReason.NOT_IN_SCOPE)) for rule in self.rules if rule.id not in fired
        )
        return Decision(points, lines, skipped, self.version)

    def usage_keys(self, facts: Mapping[str, Any]) -> dict[str, str]:
        """For each rule that could fire and has a per-member limit: the period key of its counter."""
        at = _get(facts, OCCURRED_AT)
        return {rule.id: period_key(rule.period, at) for rule, _ in self.candidates(facts) if rule.times is not None}

    def own_rule_ids(self, merchant_id: str) -> frozenset[str]:
        """The ids of a merchant's own rules (not the operator's) in this rule set."""
        return frozenset(rule.id for rule in self._merchant_rules.get(merchant_id, ()))

    def budget_rule_ids(self, facts: Mapping[str, Any]) -> tuple[str, ...]:
        """The ids of the rules that could fire and have a budget (whose remaining points to pass)."""
        return tuple(rule.id for rule, _ in self.candidates(facts) if rule.budget is not None)
