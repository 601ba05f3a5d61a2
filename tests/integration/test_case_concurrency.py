"""One case resolved by several staff at once, on real separate connections, credits the member once."""

from __future__ import annotations

from sqlalchemy import select

from loyalty.actors import Actor, Role
from loyalty.cases import services as cases
from loyalty.cases.models import ServiceCase
from loyalty.cases.resolution import resolve_case
from loyalty.ledger.models import Adjustment, LedgerEntry
from tests.concurrency import race
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent

ADMIN = Actor(kind="staff", name="ops@example.com", role=Role.ADMIN)


def test_concurrent_resolutions_of_one_case_credit_the_member_once(committed):
    with committed() as session:
        member = make_member(session)
        case = cases.open_case(session, member_id=member.id, receipt_ref="R-1", points_claimed=300, actor=ADMIN)
        session.commit()

    def resolve(i: int):
        with committed() as session:
            # Half send the same resolution, half another one: one wins, the same ones replay, the others are refused.
            outcome = resolve_case(
                session, case_id=case.id, points=300 if i % 2 == 0 else 250, reason="Till journal", actor=ADMIN
            )
            session.commit()
            return outcome.replayed

    outcomes = race(6, resolve)
    assert sum(outcome is False for outcome in outcomes) == 1, outcomes
    with committed() as session:
        points = session.scalars(select(LedgerEntry.points).where(LedgerEntry.member_id == member.id)).all()
        resolved = session.get(ServiceCase, case.id)
        assert points == [resolved.points_granted]
        assert len(session.scalars(select(Adjustment).where(Adjustment.member_id == member.id)).all()) == 1
        winners = {300: (0, 2, 4), 250: (1, 3, 5)}[resolved.points_granted]
        assert all(outcomes[i] is True for i in winners if outcomes[i] is not False)
        assert all(type(outcomes[i]).__name__ == "InvalidState" for i in range(6) if i not in winners)
        assert_ledger_consistent(session, member.id)
