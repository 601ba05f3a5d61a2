"""The compiled set of active rules is built once per change of the active rules, and only then."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from loyalty.actors import cli_actor
from loyalty.earning import services
from loyalty.earning.ruleset import RulesetCache, active_ruleset, build_ruleset, ruleset_cache

ACTOR = cli_actor()


def bonus(name: str, points: int = 10) -> dict:
    return {"name": name, "effect": {"type": "bonus", "points": points}}


class Builds:
    """How many rule sets the process-wide cache has built since this was made."""

    def __init__(self) -> None:
        self.start = ruleset_cache.builds

    def __int__(self) -> int:
        return ruleset_cache.builds - self.start


def test_the_rule_set_is_rebuilt_after_each_change_of_the_active_rules_and_not_otherwise(db_session):
    first = active_ruleset(db_session)
    builds = Builds()

    assert active_ruleset(db_session) is first
    rule = services.create_rule(db_session, rule=bonus("Welcome"), actor=ACTOR)
    services.update_rule(db_session, rule_id=rule.id, changes={"name": "Welcome bonus"}, actor=ACTOR)
    assert active_ruleset(db_session) is first
    assert int(builds) == 0

    services.activate_rule(db_session, rule_id=rule.id, actor=ACTOR)
    active = active_ruleset(db_session)
    assert int(builds) == 1
    assert active.get(rule.id).name == "Welcome bonus"
    assert active_ruleset(db_session) is active
    assert int(builds) == 1

    services.update_rule(db_session, rule_id=rule.id, changes={"effect": {"type": "bonus", "points": 20}}, actor=ACTOR)
    changed = active_ruleset(db_session)
    assert int(builds) == 2
    assert changed.get(rule.id).version == 2
    assert changed.version == active.version + 1

    services.pause_rule(db_session, rule_id=rule.id, actor=ACTOR)
    paused = active_ruleset(db_session)
    assert int(builds) == 3
    assert paused.get(rule.id) is None

    services.update_rule(db_session, rule_id=rule.id, changes={"name": "Paused and edited"}, actor=ACTOR)
    services.pause_rule(db_session, rule_id=rule.id, actor=ACTOR)
    services.create_rule(db_session, rule=bonus("Another draft"), actor=ACTOR)
    assert active_ruleset(db_session) is paused
    assert int(builds) == 3


def test_a_set_built_in_a_transaction_that_rolled_back_is_never_served_again(db_session):
    kept = services.create_rule(db_session, rule=bonus("Kept"), actor=ACTOR)
    dropped = services.create_rule(db_session, rule=bonus("Dropped"), actor=ACTOR)

    savepoint = db_session.begin_nested()
    services.activate_rule(db_session, rule_id=dropped.id, actor=ACTOR)
    abandoned = active_ruleset(db_session)
    assert abandoned.get(dropped.id) is not None
    savepoint.rollback()

    services.activate_rule(db_session, rule_id=kept.id, actor=ACTOR)
    current = active_ruleset(db_session)

    # The same version number, reached twice: the second is a different set.
    assert current.version == abandoned.version
    assert current is not abandoned
    assert current.get(kept.id) is not None
    assert current.get(dropped.id) is None


def test_threads_asking_at_once_share_one_build(engine):
    cache = RulesetCache()
    ready = threading.Barrier(6)
    results = []
    errors = []

    def ask() -> None:
        try:
            with Session(engine) as session:
                ready.wait(timeout=10)
                results.append(cache.get(session))
        except Exception as exc:  # noqa: BLE001  (reported below, in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert len(results) == 6
    assert cache.builds == 1
    assert all(result is results[0] for result in results)


def test_a_stored_rule_that_no_longer_compiles_is_left_out_not_the_whole_set():
    good = {"id": "rul_good", "version": 1, **bonus("Good")}
    broken = {"id": "rul_broken", "version": 3, **bonus("Broken"), "condition": "member.retired_fact == 1"}

    ruleset = build_ruleset([good, broken], version=9)

    assert ruleset.get("rul_good") is not None
    assert ruleset.get("rul_broken") is None
    assert ruleset.version == 9
