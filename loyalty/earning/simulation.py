"""What a draft rule would have given over the stored purchases of a period.

Each purchase in scope of the draft (its merchant's, or every merchant's for
an operator-wide rule) and in its window is scored twice, in the order the
purchases happened: against the rules active now, and against the same rules
with the draft. The draft's figures are the difference, so a multiplier is
judged on the base points the active rules give, a base rule gains from the
active multipliers, and an exclusive draft that ends the walk early costs
what it takes away as well as what it gives:

- ``purchases_matched``: purchases where the draft fires (it is in the breakdown);
- ``members_affected``: the members who have the points of those purchases;
- ``points``: the points the period would have given with the draft, less without it.

What is replayed and what is approximated is in docs/rules-api.md ("Simulating
a rule"). Large periods run in the background (``run_simulation``) and report
their progress as they go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.db import new_id, utcnow
from loyalty.earning.models import RuleSimulation
from loyalty.earning.quotes import basket_facts
from loyalty.earning.ruleset import active_rule_specs, build_ruleset
from loyalty.earning.services import WRITERS, check_new_rule
from loyalty.errors import Forbidden, NotFound, ValidationFailed
from loyalty.outbox.services import add_task, task
from loyalty.purchases.queries import StoredBasket, count_purchases, iter_baskets
from loyalty.text import usable_id
from rules import CompiledRule, Decision, RuleSet, RuleSpec, check_rule, compile_rule

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# Purchases per transaction of a background run: its progress is committed after each.
CHUNK = 5000
# Purchases read and scored at a time, with their items.
PARTITION = 500
# A background run may take this long (seconds) before RQ stops it.
JOB_TIMEOUT = 6 * 3600


@dataclass(frozen=True)
class SimulationResult:
    """The figures of a finished simulation; ``purchases_scanned`` is how many purchases were scored."""

    purchases_matched: int
    members_affected: int
    points: int
    purchases_scanned: int


@dataclass
class _Counters:
    """Per-member limit and budget use, as the replayed period spends them."""

    usage: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)

    def score(self, ruleset: RuleSet, facts: Mapping[str, Any], member_id: str | None) -> Decision:
        usage = {}
        if member_id is not None:
            for rule_id, key in ruleset.usage_keys(facts).items():
                held = self.usage.get((rule_id, member_id))
                if held is not None and held[0] == key:
                    usage[rule_id] = held[1]
        budgets = {
            rule_id: ruleset.get(rule_id).budget - self.spent.get(rule_id, 0)
            for rule_id in ruleset.budget_rule_ids(facts)
        }
        decision = ruleset.score(facts, usage=usage, budget_remaining=budgets)
        for line in decision.breakdown:
            if member_id is not None and line.period_key is not None:
                held = self.usage.get((line.rule_id, member_id))
                times = held[1] + 1 if held is not None and held[0] == line.period_key else 1
                self.usage[(line.rule_id, member_id)] = (line.period_key, times)
            if ruleset.get(line.rule_id).budget is not None:
                self.spent[line.rule_id] = self.spent.get(line.rule_id, 0) + line.points
        return decision


class Replay:
    """Scores purchases in the order they happened with and without the draft, adding up the difference."""

    def __init__(self, active: list[CompiledRule], draft: CompiledRule) -> None:
        self.draft_id = draft.id
        self.without = RuleSet(active, "active")
        self.with_draft = RuleSet([*active, draft], "simulation")
        self._without_counters = _Counters()
        self._with_counters = _Counters()
        self.scanned = 0
        self.matched = 0
        self.points = 0
        self.members: set[str] = set()

    def score(self, basket: StoredBasket) -> None:
        facts = basket_facts(
            store=basket.store,
            member=basket.member,
            items=basket.items,
            total_minor=basket.total_minor,
            currency=basket.currency,
            occurred_at=basket.occurred_at,
        )
        # Limits count per member as the till counted them: an anonymous sale counts for nobody.
        counted = basket.member_id if basket.member is not None else None
        with_draft = self._with_counters.score(self.with_draft, facts, counted)
        without = self._without_counters.score(self.without, facts, counted)
        self.scanned += 1
        self.points += with_draft.points - without.points
        if any(line.rule_id == self.draft_id for line in with_draft.breakdown):
            self.matched += 1
            if basket.member_id is not None:
                self.members.add(basket.member_id)

    def result(self) -> SimulationResult:
        return SimulationResult(self.matched, len(self.members), self.points, self.scanned)


def _window(spec: RuleSpec, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The part of ``[start, end)`` in which the draft can fire at all."""
    if spec.starts_at is not None and spec.starts_at > start:
        start = spec.starts_at
    if spec.ends_at is not None and spec.ends_at < end:
        end = spec.ends_at
    return start, end


def _stored_rule(spec: RuleSpec) -> dict[str, Any]:
    data = spec.to_dict()
    for name in ("starts_at", "ends_at"):
        if data[name] is not None:
            data[name] = data[name].isoformat()
    return data


def replay_period(
    session: Session,
    *,
    spec: RuleSpec,
    start: datetime,
    end: datetime,
    on_chunk: Callable[[int], Any] | None = None,
    chunk: int | None = None,
) -> SimulationResult:
    """Score the draft over the purchases of ``[start, end)`` in its scope, ``chunk`` at a time.

    ``on_chunk(scanned)`` is called after each chunk; a background run commits
    its progress there, between the chunks' reads.
    """
    active = build_ruleset(active_rule_specs(session), 0).rules
    replay = Replay([rule for rule in active if rule.id != spec.id], compile_rule(spec))
    start, end = _window(spec, start, end)
    chunk = chunk or CHUNK
    after = None
    while start < end:
        read = 0
        for baskets in iter_baskets(
            session, start=start, end=end, merchant_id=spec.merchant_id, after=after, limit=chunk, partition=PARTITION
        ):
            for basket in baskets:
                replay.score(basket)
            read += len(baskets)
            after = (baskets[-1].occurred_at, baskets[-1].id)
        if on_chunk is not None and read:
            on_chunk(replay.scanned)
        if read < chunk:
            break
    return replay.result()


def simulate_rule(
    session: Session,
    *,
    rule: Mapping[str, Any],
    from_: datetime,
    to: datetime,
    sync_limit: int,
    actor: Actor,
) -> SimulationResult | RuleSimulation:
    """Run a draft rule against the stored purchases of ``[from_, to)``, writing nothing, or queue it when large.

    The draft is checked as ``POST /rules`` checks a new rule (``InvalidRule``).
    Up to ``sync_limit`` purchases in its scope are scored now and the figures
    returned; beyond that a ``RuleSimulation`` is recorded and run by a job.
    """
    if actor.role not in WRITERS and not actor.is_admin:
        raise Forbidden("This key may not write earning rules, so it may not simulate them.")
    if from_ >= to:
        raise ValidationFailed("The period ends after it starts.", errors={"to": ["Must be after from."]})
    spec = check_new_rule(session, rule=rule, actor=actor)
    # The draft walks after the active rules of the same priority, as a rule created now would.
    spec = replace(spec, id=new_id("rul"))
    start, end = _window(spec, from_, to)
    total = count_purchases(session, start=start, end=end, merchant_id=spec.merchant_id)
    if total <= sync_limit:
        return replay_period(session, spec=spec, start=from_, end=to)
    simulation = RuleSimulation(
        status=QUEUED,
        merchant_id=spec.merchant_id,
        rule=_stored_rule(spec),
        from_at=from_,
        to_at=to,
        total=total,
        done=0,
        created_by_kind=actor.kind,
        created_by_name=actor.name,
        created_by_role=actor.role.value if actor.role else None,
        created_by_key_id=actor.key_id,
    )
    session.add(simulation)
    session.flush()
    add_task(session, run_simulation, simulation_id=simulation.id)
    return simulation


def get_simulation(session: Session, simulation_id: str, *, actor: Actor) -> RuleSimulation:
    """A simulation the actor may read: a merchant only its own merchant's."""
    simulation = session.get(RuleSimulation, simulation_id) if usable_id(simulation_id) else None
    if simulation is None or not actor.sees_merchant(simulation.merchant_id):
        raise NotFound("No such simulation.")
    return simulation


@task(queue="default", timeout=JOB_TIMEOUT)
def run_simulation(session: Session, *, simulation_id: str) -> None:
    """Run a queued simulation, committing its progress after each chunk of purchases.

    The figures are written with the outbox message's completion, in the last
    transaction. A retry starts again from the first purchase; a finished
    simulation is left as it is.
    """
    simulation = session.get(RuleSimulation, simulation_id)
    if simulation is None or simulation.status == DONE:
        return
    simulation.status = RUNNING
    simulation.started_at = utcnow()
    simulation.done = 0
    simulation.error = None
    session.commit()

    def progress(scanned: int) -> None:
        simulation.done = scanned
        session.commit()

    try:
        result = replay_period(
            session,
            spec=check_rule(simulation.rule),
            start=simulation.from_at,
            end=simulation.to_at,
            on_chunk=progress,
        )
    except Exception:
        session.rollback()
        simulation.status = FAILED
        simulation.error = "The simulation stopped on an error; it is retried, or run it again."
        simulation.finished_at = utcnow()
        session.commit()
        log.exception("rule simulation %s failed", simulation_id)
        raise
    simulation.status = DONE
    simulation.done = result.purchases_scanned
    simulation.total = max(simulation.total, result.purchases_scanned)
    simulation.purchases_matched = result.purchases_matched
    simulation.members_affected = result.members_affected
    simulation.points = result.points
    simulation.finished_at = utcnow()
    session.flush()
