"""The expiry job racing redemptions and purchases of the same member, on real separate connections.

On PostgreSQL these are true races between transactions (the job and the
others queue on the member's row lock); on SQLite writers queue on the
database lock. Either way each side sees the other's result whole.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty.actors import cli_actor
from loyalty.errors import InsufficientPoints
from loyalty.ledger import services as ledger
from loyalty.ledger.jobs import run_expiry
from loyalty.ledger.models import LedgerEntry
from loyalty.program.services import update_program
from loyalty.purchases.services import record_purchase
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import ruleset
from tests.ledger_checks import assert_ledger_consistent

DAY = timedelta(days=1)


def setup(committed):
    """A member with 100 expired points and 50 that expire next year."""
    now = datetime.now(UTC)
    with committed() as session:
        update_program(session, changes={"pending_days": 0}, actor=cli_actor())
        store = make_store(session, make_merchant(session).id)
        member = make_member(session)
        locked = ledger.lock_member(session, member.id)
        context = ledger.EntryContext(actor=cli_actor())
        lots = [
            ledger.add_points(
                session,
                locked,
                kind="adjust",
                points=points,
                available_at=now - 400 * DAY,
                expires_at=expires_at,
                context=context,
                now=now - 400 * DAY,
            )
            for points, expires_at in ((100, now - DAY), (50, now + 365 * DAY))
        ]
        session.commit()
    return store, member, lots[0].id


def expire(committed):
    with committed() as session:
        return run_expiry(session)


def redeem(committed, member, points):
    with committed() as session:
        locked = ledger.lock_member(session, member.id)
        taken = ledger.take_points(
            session, locked, kind="redeem", points=points, context=ledger.EntryContext(actor=cli_actor())
        )
        session.commit()
        return taken.from_lots


def buy(committed, store, member, external_id):
    with committed() as session:
        outcome = record_purchase(
            session,
            store_id=store.id,
            terminal_id=None,
            external_id=external_id,
            member_ref={"member_id": member.id},
            occurred_at=datetime.now(UTC),
            currency="EUR",
            total_minor=2000,
            items=[],
            fingerprint=external_id,
            ruleset=ruleset(),
            actor=cli_actor(),
        )
        session.commit()
        return outcome


def kinds_and_points(committed, member):
    with committed() as session:
        rows = session.execute(
            select(LedgerEntry.kind, LedgerEntry.points)
            .where(LedgerEntry.member_id == member.id)
            .order_by(LedgerEntry.id)
        ).all()
        assert_ledger_consistent(session, member.id)
        return [tuple(row) for row in rows]


@pytest.mark.parametrize("attempt", range(3))
def test_expiry_racing_a_redemption_of_the_expiring_points_applies_one_then_the_other(committed, attempt):
    _store, member, _expiring = setup(committed)

    # 120 points can be redeemed only with the 100 that are expiring.
    outcomes = race(2, lambda i: expire(committed) if i == 0 else redeem(committed, member, 120))

    run, redeemed = outcomes
    assert not isinstance(run, Exception), run
    entries = kinds_and_points(committed, member)
    if isinstance(redeemed, InsufficientPoints):
        # The expiry went first: 100 expired, 50 left, not enough to redeem.
        assert run.points == 100
        assert entries[2:] == [("expire", -100)]
    else:
        # The redemption went first, from the lot expiring first: nothing left to expire.
        assert isinstance(redeemed, list), redeemed
        assert run.points == 0
        assert entries[2:] == [("redeem", -120)]


def test_expiry_racing_purchases_and_redemptions_of_one_member_keeps_every_invariant(committed):
    store, member, expiring = setup(committed)

    def act(i: int):
        if i == 0:
            return expire(committed)
        if i % 2:
            return buy(committed, store, member, f"R-EXP-{i}")
        return redeem(committed, member, 10)

    outcomes = race(7, act)

    assert not [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, InsufficientPoints)], outcomes
    entries = kinds_and_points(committed, member)
    assert entries.count(("earn", 20)) == 3
    expired = [points for kind, points in entries if kind == "expire"]
    assert len(expired) <= 1 and outcomes[0].points == -sum(expired)
    # However they interleaved, each of the 100 expiring points was either redeemed or expired, once.
    drawn = sum(part for o in outcomes[2::2] if isinstance(o, list) for lot_id, part in o if lot_id == expiring)
    assert drawn - sum(expired) == 100
