"""Enrolments racing each other on real, separate database connections."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.errors import MemberExists
from loyalty.members.models import Member
from loyalty.members.services import enrol_member
from loyalty.notifications.models import Notification
from loyalty.outbox.models import OutboxMessage

RACERS = 6


@pytest.fixture()
def committed(engine, redis_conn):
    """Sessions that really commit; every row they made is removed afterwards."""
    made: list[str] = []
    yield made
    with Session(engine) as session, session.begin():
        session.execute(delete(Notification).where(Notification.member_id.in_(made)))
        session.execute(delete(AuditEvent).where(AuditEvent.object_id.in_(made)))
        session.execute(delete(OutboxMessage))
        session.execute(delete(Member).where(Member.id.in_(made)))


def test_concurrent_enrolments_of_one_email_make_exactly_one_member(engine, committed):
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def enrol(n: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                member = enrol_member(
                    session, email="race@example.com", phone=None, name=f"racer {n}", actor=cli_actor()
                )
                session.commit()
                result = member.id
            except MemberExists:
                session.rollback()
                result = "member_exists"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=enrol, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    created = [o for o in outcomes if o != "member_exists"]
    committed.extend(created)
    assert len(outcomes) == RACERS
    assert len(created) == 1
    assert outcomes.count("member_exists") == RACERS - 1
    with Session(engine) as session:
        rows = session.scalars(select(Member).where(Member.email == "race@example.com")).all()
    assert [m.id for m in rows] == created
