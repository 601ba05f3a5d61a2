"""The counts rule limits and budgets are judged on, kept exact under concurrency.

Per-member usage is only ever changed under the member's lock, so reading it
and adding one is exact. A budget is shared by every member: it is spent with
one conditional upsert (``... ON CONFLICT DO UPDATE ... WHERE spent_points +
:points <= :budget``), which PostgreSQL re-checks against the latest committed
row when two transactions race, so a budget is never overspent; the loser reads
what is left and re-scores.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.orm import Session

from loyalty.campaigns.queries import treatment_campaigns
from loyalty.db import upsert_insert
from loyalty.earning.ruleset import campaign_rules
from loyalty.ledger.models import RuleBudget, RuleUsage
from rules import Decision, RuleSet

# Re-scoring after losing a budget race is rare; more rounds than this means a
# budget is being drained by many tills at once, and the rule is left out.
MAX_ROUNDS = 5


# Built once: every purchase of a member that could fire a limited rule runs it.
_USAGE = select(RuleUsage.rule_id, RuleUsage.times).where(
    RuleUsage.member_id == bindparam("member_id"),
    tuple_(RuleUsage.rule_id, RuleUsage.period_key).in_(bindparam("keys", expanding=True)),
)


def read_usage(session: Session, ruleset: RuleSet, facts: Mapping[str, Any], member_id: str | None) -> dict[str, int]:
    """Times each limited rule has fired for the member in the purchase's period."""
    keys = ruleset.usage_keys(facts) if member_id else {}
    if not keys:
        return {}
    rows = session.execute(_USAGE, {"member_id": member_id, "keys": list(keys.items())}).all()
    return dict(rows)


def read_budgets(session: Session, ruleset: RuleSet, facts: Mapping[str, Any]) -> dict[str, int]:
    """Points each budgeted rule that could fire has left."""
    ids = ruleset.budget_rule_ids(facts)
    if not ids:
        return {}
    spent = dict(
        session.execute(select(RuleBudget.rule_id, RuleBudget.spent_points).where(RuleBudget.rule_id.in_(ids))).all()
    )
    return {rule_id: ruleset.get(rule_id).budget - spent.get(rule_id, 0) for rule_id in ids}


def _spend_budget(session: Session, rule_id: str, points: int, budget: int) -> bool:
    """Spend ``points`` of a rule's budget if it covers them: True if spent. One statement.

    The first spend creates the budget's row; later ones add to it only while the
    total stays within the budget. Two purchases racing on the row queue on its
    lock, and the second is judged against the first's total.
    """
    if points > budget:
        return False
    statement = _built(session, "spend", _spend_statement)
    return session.execute(statement, {"spend_rule": rule_id, "spend": points, "budget": budget}).first() is not None


def _spend_statement(session: Session) -> Any:
    table, spend = RuleBudget.__table__, bindparam("spend")
    return (
        upsert_insert(session, table)
        .values(rule_id=bindparam("spend_rule"), spent_points=spend)
        .on_conflict_do_update(
            index_elements=[table.c.rule_id],
            set_={"spent_points": table.c.spent_points + spend},
            where=table.c.spent_points + spend <= bindparam("budget"),
        )
        .returning(table.c.rule_id)
    )


def _count_statement(session: Session) -> Any:
    table = RuleUsage.__table__
    return (
        upsert_insert(session, table)
        .values(times=1)
        .on_conflict_do_update(
            index_elements=[table.c.rule_id, table.c.member_id, table.c.period_key],
            set_={"times": table.c.times + 1},
        )
    )


# The upserts, built once per database kind (their values come as parameters).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _built(session: Session, name: str, build: Callable[[Session], Any]) -> Any:
    key = (name, session.get_bind().dialect.name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(session)
    return statement


def _count_usage(session: Session, rule_id: str, member_id: str, period_key: str) -> None:
    # One upsert; exact because only the member's lock holder changes the member's usage.
    session.execute(
        _built(session, "count", _count_statement),
        {"rule_id": rule_id, "member_id": member_id, "period_key": period_key},
    )


class Funding(Protocol):
    """A merchant's prepaid points, which its own rules draw on (``loyalty.settlement.funding``)."""

    def settle(
        self, session: Session, ruleset: RuleSet, score: Callable[[Collection[str] | None], Decision]
    ) -> Decision:
        """The decision of ``score(excluded)`` once the prepaid points are drawn for it."""
        ...


def _score_within_budgets(
    session: Session,
    ruleset: RuleSet,
    facts: Mapping[str, Any],
    usage: dict[str, int],
    excluded: Collection[str] | None,
) -> Decision:
    # Budgets are not read up front: most purchases fire no budgeted rule, and one
    # that does learns whether the budget covers it from the conditional spend.
    budgets: dict[str, int] | None = None
    for _round in range(MAX_ROUNDS):
        decision = ruleset.score(facts, usage=usage, budget_remaining=budgets, excluded=excluded)
        budgeted = sorted(
            (line for line in decision.breakdown if ruleset.get(line.rule_id).budget is not None),
            key=lambda line: line.rule_id,
        )
        if not budgeted:
            return decision
        # A single conditional spend that fails changes nothing; only several
        # spends need a savepoint to undo the ones that succeeded.
        savepoint = session.begin_nested() if len(budgeted) > 1 else None
        if all(
            _spend_budget(session, line.rule_id, line.points, ruleset.get(line.rule_id).budget) for line in budgeted
        ):
            if savepoint is not None:
                savepoint.commit()
            return decision
        if savepoint is not None:
            savepoint.rollback()
        # A budget could not cover its rule: score again against what is left of each.
        budgets = read_budgets(session, ruleset, facts)
    # Budgets keep moving under us: score once more with them all spent.
    budgets = dict.fromkeys(ruleset.budget_rule_ids(facts), 0)
    return ruleset.score(facts, usage=usage, budget_remaining=budgets, excluded=excluded)


def _union(excluded: Collection[str] | None, held_out: frozenset[str]) -> Collection[str] | None:
    if not held_out:
        return excluded
    return held_out if not excluded else held_out | set(excluded)


def campaign_rules_held_out(
    session: Session, ruleset: RuleSet, facts: Mapping[str, Any], member_id: str | None
) -> frozenset[str]:
    """The campaign rules that could fire here but are not for this member (not in their treatment group).

    Free when the active set has no campaign rule (nearly always); otherwise one
    primary-key read, only when a campaign rule is among the purchase's candidates.
    """
    gated = campaign_rules(ruleset)
    if not gated:
        return frozenset()
    candidates = [rule.id for rule, _ in ruleset.candidates(facts) if rule.id in gated]
    if not candidates:
        return frozenset()
    treated = treatment_campaigns(session, member_id, {gated[r] for r in candidates}) if member_id else set()
    return frozenset(r for r in candidates if gated[r] not in treated)


def score_and_count(
    session: Session,
    ruleset: RuleSet,
    facts: Mapping[str, Any],
    member_id: str | None,
    *,
    funding: Funding | None = None,
) -> Decision:
    """Score a purchase against the live counters and record what it used, exactly once.

    Must run in the purchase's transaction, after the member is locked.
    ``funding`` is the store's merchant's prepaid points, when it has them.
    """
    usage = read_usage(session, ruleset, facts, member_id)
    held_out = campaign_rules_held_out(session, ruleset, facts, member_id)
    if funding is None:
        decision = _score_within_budgets(session, ruleset, facts, usage, held_out or None)
    else:
        decision = funding.settle(
            session,
            ruleset,
            lambda excluded: _score_within_budgets(session, ruleset, facts, usage, _union(excluded, held_out)),
        )
    if member_id:
        for line in decision.breakdown:
            if line.period_key is not None:
                _count_usage(session, line.rule_id, member_id, line.period_key)
    return decision


def budget_spent(session: Session, rule_id: str) -> int:
    """Points a budgeted rule has given so far (0 before its first)."""
    spent = session.scalar(select(RuleBudget.spent_points).where(RuleBudget.rule_id == rule_id))
    return int(spent or 0)
