"""Changes to one active rule at the same time, on real, separate database connections."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.earning import services
from loyalty.earning.models import Rule, RuleVersion
from loyalty.earning.ruleset import bump_ruleset_version, ruleset_state

RACERS = 6


@pytest.fixture()
def rule_id(engine, redis_conn):
    """A committed active rule; it is removed afterwards, and the rule set marked as changed."""
    with Session(engine, expire_on_commit=False) as session:
        rule = services.create_rule(
            session, rule={"name": "Race bonus", "effect": {"type": "bonus", "points": 1}}, actor=cli_actor()
        )
        services.activate_rule(session, rule_id=rule.id, actor=cli_actor())
        session.commit()
    yield rule.id
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEvent).where(AuditEvent.object_id == rule.id))
        session.execute(delete(RuleVersion).where(RuleVersion.rule_id == rule.id))
        session.execute(delete(Rule).where(Rule.id == rule.id))
        bump_ruleset_version(session)


def test_concurrent_changes_to_an_active_rule_each_make_their_own_version(engine, rule_id):
    with Session(engine) as session:
        counter_before = ruleset_state(session)[0]
    barrier = threading.Barrier(RACERS)
    errors: list[Exception] = []

    def change(n: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                services.update_rule(
                    session,
                    rule_id=rule_id,
                    changes={"effect": {"type": "bonus", "points": 10 + n}},
                    actor=cli_actor(),
                )
                session.commit()
            except Exception as exc:  # noqa: BLE001  (reported below, in the test's thread)
                session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=change, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    with Session(engine) as session:
        rule = session.get(Rule, rule_id)
        versions = session.scalars(
            select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)
        ).all()
        assert rule.version == RACERS + 1
        assert [v.version for v in versions] == list(range(1, RACERS + 2))
        # Every racer's points are in exactly one version, after the original one.
        assert sorted(v.effect["points"] for v in versions[1:]) == [10 + n for n in range(RACERS)]
        assert ruleset_state(session)[0] == counter_before + RACERS
