"""The set of active rules: its version counter, and one compiled ``RuleSet`` per version, cached per process."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.db import new_id, utcnow
from loyalty.earning.models import Rule, RulesetState, RuleVersion
from rules import RuleError, RuleSet, compile_rule

log = logging.getLogger(__name__)

ACTIVE = "active"
# The token of a database where no rule was ever activated: its active set is empty.
NEVER_CHANGED = "never"
RULESET_STATE_ID = 1  # the counter's one row


def bump_ruleset_version(session: Session) -> int:
    """Mark the active set as changed, in the caller's transaction; returns the new version.

    Call it in the transaction of every activation, pause, or change of an active
    rule. On PostgreSQL the row stays locked until that transaction ends, so
    changes to the active set are serialised and their versions never interleave.
    """
    values = {"version": RulesetState.version + 1, "token": new_id("rsv"), "updated_at": utcnow()}
    statement = update(RulesetState).where(RulesetState.id == RULESET_STATE_ID).values(**values)
    if session.execute(statement.execution_options(synchronize_session=False)).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(RulesetState(id=RULESET_STATE_ID, version=1, token=new_id("rsv")))
        except IntegrityError:
            # Another transaction created the row first: bump theirs.
            session.execute(statement.execution_options(synchronize_session=False))
    return ruleset_state(session)[0]


def ruleset_state(session: Session) -> tuple[int, str]:
    """The active set's ``(version, token)``: one primary-key read."""
    row = session.execute(
        select(RulesetState.version, RulesetState.token).where(RulesetState.id == RULESET_STATE_ID)
    ).first()
    return (0, NEVER_CHANGED) if row is None else (row.version, row.token)


def active_rule_specs(session: Session) -> list[dict[str, Any]]:
    """The current version of every active rule, as rule specs for the engine.

    A campaign's rule also carries ``campaign_id`` (which ``build_ruleset`` takes out).
    """
    rows = session.execute(
        select(RuleVersion, Rule.campaign_id)
        .join(Rule, (Rule.id == RuleVersion.rule_id) & (Rule.version == RuleVersion.version))
        .where(Rule.status == ACTIVE)
        .order_by(RuleVersion.rule_id)
    )
    specs = []
    for version, campaign_id in rows:
        spec = version_spec(version)
        if campaign_id is not None:
            spec["campaign_id"] = campaign_id
        specs.append(spec)
    return specs


# The campaign of each campaign rule, by rule set: such a rule fires only for the campaign's
# treatment group (``loyalty.ledger.counters``). A set with no campaign rule has no entry.
_CAMPAIGN_RULES: weakref.WeakKeyDictionary[RuleSet, dict[str, str]] = weakref.WeakKeyDictionary()


def campaign_rules(ruleset: RuleSet) -> Mapping[str, str]:
    """``{rule_id: campaign_id}`` of the rule set's campaign rules (empty for most sets)."""
    return _CAMPAIGN_RULES.get(ruleset, {})


def version_spec(row: RuleVersion) -> dict[str, Any]:
    """A stored version as the engine's rule mapping (with its id and version)."""
    return {
        "id": row.rule_id,
        "version": row.version,
        "name": row.name,
        "priority": row.priority,
        "stacking": row.stacking,
        "merchant_id": row.merchant_id,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "condition": row.condition,
        "effect": dict(row.effect),
        "limits": dict(row.limits or {}),
    }


def build_ruleset(specs: list[dict[str, Any]], version: int) -> RuleSet:
    """Compile the active rules. A rule that no longer compiles is left out and logged, never the whole set."""
    compiled = []
    campaigns: dict[str, str] = {}
    for spec in specs:
        if "campaign_id" in spec:
            spec = dict(spec)
            campaigns[spec["id"]] = spec.pop("campaign_id")
        try:
            compiled.append(compile_rule(spec))
        except RuleError as error:
            log.error("active rule %s v%s left out of rule set %s: %s", spec["id"], spec["version"], version, error)
    ruleset = RuleSet(compiled, version)
    if campaigns:
        _CAMPAIGN_RULES[ruleset] = campaigns
    return ruleset


class RulesetCache:
    """Compiled rule sets by the token of their version; a few kept, built at most once each.

    Reading the counter is one cheap query per call; the rules are read and
    compiled only when the counter moved. Thread-safe.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.builds = 0
        self._sets: OrderedDict[str, RuleSet] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, state: tuple[int, str] | None = None) -> RuleSet:
        """The active rule set as this session's transaction sees it (``state``: its counter, if just read)."""
        version, token = state or ruleset_state(session)
        ruleset = self._sets.get(token)
        if ruleset is not None:
            return ruleset
        with self._lock:
            for _attempt in range(3):
                ruleset = self._sets.get(token)
                if ruleset is not None:
                    return ruleset
                specs = active_rule_specs(session)
                # Under READ COMMITTED the rules may have been read after a change committed:
                # only a set whose counter did not move while it was read is cached.
                now = ruleset_state(session)
                if now == (version, token):
                    ruleset = build_ruleset(specs, version)
                    self.builds += 1
                    self._sets[token] = ruleset
                    while len(self._sets) > self.size:
                        self._sets.popitem(last=False)
                    return ruleset
                version, token = now
            # The set keeps changing under us: use what was read, without caching it.
            self.builds += 1
            return build_ruleset(specs, version)

    def clear(self) -> None:
        """Forget every compiled set."""
        with self._lock:
            self._sets.clear()

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would never be released in the child.
        self._lock = threading.Lock()


ruleset_cache = RulesetCache()
os.register_at_fork(after_in_child=ruleset_cache._after_fork)


def active_ruleset(session: Session, *, state: tuple[int, str] | None = None) -> RuleSet:
    """The compiled set of active rules (their current versions), rebuilt only when the set changed.

    ``state`` is the counter's ``(version, token)`` when the caller read it with other rows.
    """
    return ruleset_cache.get(session, state)
