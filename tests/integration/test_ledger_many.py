"""Crediting many members at once gives what one add_points each would: debts paid first, pending kept apart."""

from __future__ import annotations

from datetime import timedelta

from loyalty.actors import cli_actor
from loyalty.db import utcnow
from loyalty.ledger import services as ledger
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent


def test_many_members_credited_at_once_as_one_add_points_each(db_session):
    now = utcnow()
    context = ledger.EntryContext(actor=cli_actor(), note="test")
    in_debt, pending, plain = (make_member(db_session) for _ in range(3))
    # 30 points of debt (a return of points already spent); 50 points pending for a week.
    ledger.take_points(
        db_session,
        ledger.lock_member(db_session, in_debt.id),
        kind="return",
        points=30,
        context=context,
        may_go_negative=True,
        now=now,
    )
    ledger.add_points(
        db_session,
        ledger.lock_member(db_session, pending.id),
        kind="earn",
        points=50,
        available_at=now + timedelta(days=7),
        expires_at=None,
        context=context,
        now=now,
    )
    members = [ledger.lock_member(db_session, m.id) for m in (in_debt, pending, plain)]
    entries = ledger.add_points_to_many(
        db_session, members, kind="adjust", points=100, expires_at=None, context=context, now=now
    )
    db_session.flush()

    assert [e.points for e in entries] == [100, 100, 100]
    assert [e.lot_remaining for e in entries] == [70, 100, 100]  # the debt is paid first
    assert [e.balance_after for e in entries] == [70, 100, 100]  # available after: pending is not
    for member in (in_debt, pending, plain):
        assert_ledger_consistent(db_session, member.id)
    balances = [
        ledger.balance(db_session, ledger.lock_member(db_session, m.id), now) for m in (in_debt, pending, plain)
    ]
    assert [(b.available, b.pending) for b in balances] == [(70, 0), (100, 50), (100, 0)]
