"""The same adjustment sent many times at once, on real separate connections, applies once."""

from __future__ import annotations

from sqlalchemy import select

from loyalty.actors import Actor, Role
from loyalty.ledger.adjustments import adjust_points
from loyalty.ledger.models import LedgerEntry
from tests.concurrency import race
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent

ADMIN = Actor(kind="key", name="ops", role=Role.ADMIN, key_id="key_ops")


def test_the_same_key_sent_ten_times_at_once_adjusts_once_and_every_retry_gets_the_same_answer(committed):
    with committed() as session:
        member = make_member(session)

    def send(i: int):
        with committed() as session:
            outcome = adjust_points(
                session,
                member_id=member.id,
                points=75,
                reason="Complaint 17",
                idempotency_key="complaint-17",
                fingerprint="body",
                actor=ADMIN,
            )
            session.commit()
            return outcome

    outcomes = race(10, send)
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.receipt_json for o in outcomes}) == 1
    with committed() as session:
        points = session.scalars(select(LedgerEntry.points).where(LedgerEntry.member_id == member.id)).all()
        assert points == [75]
        assert_ledger_consistent(session, member.id)
