"""flask --app wsgi ledger expire|warn: the daily ledger work run now, with a line per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty.actors import cli_actor
from loyalty.ledger import services as ledger
from loyalty.ledger.models import LedgerEntry
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent


def give(session, member, points, *, expires_in: timedelta):
    now = datetime.now(UTC)
    locked = ledger.lock_member(session, member.id)
    ledger.add_points(
        session,
        locked,
        kind="adjust",
        points=points,
        available_at=now - timedelta(days=800),
        expires_at=now + expires_in,
        context=ledger.EntryContext(actor=cli_actor()),
        now=now - timedelta(days=800),
    )
    session.commit()


def test_ledger_expire_prints_a_line_per_batch_and_the_totals(app, db_session):
    members = [make_member(db_session) for _ in range(3)]
    for n, member in enumerate(members):
        give(db_session, member, 10 * (n + 1), expires_in=-timedelta(days=1))
        give(db_session, member, 5, expires_in=timedelta(days=100))
    ids = [member.id for member in members]

    result = app.test_cli_runner().invoke(args=["ledger", "expire", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "batch 1: 30 points of 2 lots expired for 2 members",
        "batch 2: 30 points of 1 lots expired for 1 members",
        "Expired 60 points of 3 lots for 3 members in 2 batches.",
    ]
    for member_id in ids:
        assert_ledger_consistent(db_session, member_id)
    assert len(db_session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "expire")).all()) == 3


def test_ledger_warn_queues_each_warning_once(app, db_session):
    member = make_member(db_session)
    give(db_session, member, 40, expires_in=timedelta(days=12))
    runner = app.test_cli_runner()

    first = runner.invoke(args=["ledger", "warn"])
    again = runner.invoke(args=["ledger", "warn"])

    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == "Warned 1 members of 40 points expiring on 1 dates in 1 batches."
    assert again.output.splitlines()[-1] == "Warned 0 members of 0 points expiring on 0 dates in 1 batches."
