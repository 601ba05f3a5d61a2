"""Enrolments racing each other on real, separate database connections."""

from __future__ import annotations

from sqlalchemy import select

from loyalty.actors import cli_actor
from loyalty.errors import MemberExists
from loyalty.members.models import Member
from loyalty.members.services import enrol_member
from tests.concurrency import race

RACERS = 6


def test_concurrent_enrolments_of_one_email_make_exactly_one_member(committed):
    def enrol(n: int) -> str:
        with committed() as session:
            member = enrol_member(session, email="race@example.com", phone=None, name=f"racer {n}", actor=cli_actor())
            session.commit()
            return member.id

    outcomes = race(RACERS, enrol)
    created = [o for o in outcomes if isinstance(o, str)]
    assert len(created) == 1
    assert all(isinstance(o, MemberExists) for o in outcomes if not isinstance(o, str))
    with committed() as session:
        rows = session.scalars(select(Member).where(Member.email == "race@example.com")).all()
    assert [m.id for m in rows] == created
