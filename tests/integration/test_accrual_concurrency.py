"""Purchases and returns racing each other on real, separate database connections.

On PostgreSQL these are true races between transactions; on SQLite the same
tests check that writers queue on the database lock and still count exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from loyalty.actors import cli_actor
from loyalty.errors import IdempotencyConflict, ReturnExceedsPurchase
from loyalty.ledger.models import LedgerEntry, RuleBudget
from loyalty.program.services import update_program
from loyalty.purchases.models import Purchase
from loyalty.purchases.returns import return_purchase
from loyalty.purchases.services import record_purchase
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import ruleset
from tests.ledger_checks import assert_ledger_consistent


def setup(committed, members: int = 1):
    with committed() as session:
        update_program(session, changes={"pending_days": 0}, actor=cli_actor())
        store = make_store(session, make_merchant(session).id)
        people = [make_member(session) for _ in range(members)]
        session.commit()
    return store, people


def purchase(committed, store, member, *, external_id, total_minor=1000, rules=None, fingerprint=None):
    with committed() as session:
        outcome = record_purchase(
            session,
            store_id=store.id,
            terminal_id=None,
            external_id=external_id,
            member_ref={"member_id": member.id},
            occurred_at=datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
            currency="EUR",
            total_minor=total_minor,
            items=[{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": total_minor}],
            fingerprint=fingerprint or external_id,
            ruleset=rules or ruleset(),
            actor=cli_actor(),
        )
        session.commit()
        return outcome


def test_the_same_external_id_sent_twenty_times_at_once_awards_once(committed):
    store, (member,) = setup(committed)
    outcomes = race(20, lambda _i: purchase(committed, store, member, external_id="R-RACE", total_minor=4250))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({repr(o.receipt) for o in outcomes}) == 1  # every retry got the identical receipt
    with committed() as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 1
        assert session.scalar(select(func.sum(LedgerEntry.points))) == 42
        assert_ledger_consistent(session, member.id)


def test_the_same_external_id_with_different_bodies_at_once_keeps_exactly_one(committed):
    store, (member,) = setup(committed)
    outcomes = race(
        10,
        lambda i: purchase(
            committed, store, member, external_id="R-DIFF", total_minor=1000 + i, fingerprint=f"body-{i}"
        ),
    )
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1 and not winners[0].replayed
    assert all(isinstance(o, IdempotencyConflict) for o in outcomes if isinstance(o, Exception))


def test_a_rule_budget_hit_by_many_concurrent_purchases_is_spent_exactly(committed):
    store, people = setup(committed, members=30)
    rules = ruleset(
        {
            "id": "rul_promo",
            "name": "Promo",
            "effect": {"type": "bonus", "points": 30},
            "limits": {"budget_points": 500},
        }
    )
    outcomes = race(30, lambda i: purchase(committed, store, people[i], external_id=f"R-B{i}", rules=rules))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    awarded = [o.receipt["points_awarded"] for o in outcomes]
    assert sorted(set(awarded)) == [0, 30]
    assert sum(awarded) == 480  # 16 purchases of 30: the 17th would overspend 500
    with committed() as session:
        assert session.get(RuleBudget, "rul_promo").spent_points == 480


def test_many_purchases_of_one_member_at_once_all_count(committed):
    store, (member,) = setup(committed)
    outcomes = race(15, lambda i: purchase(committed, store, member, external_id=f"R-HOT{i}", total_minor=1000))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with committed() as session:
        assert_ledger_consistent(session, member.id)
        assert session.scalar(select(func.sum(LedgerEntry.points))) == 150


def test_concurrent_returns_of_one_purchase_never_take_back_more_than_it_earned(committed):
    store, (member,) = setup(committed)
    receipt = purchase(committed, store, member, external_id="R-RET", total_minor=10000).receipt  # 100 points

    def give_back(i: int):
        with committed() as session:
            outcome = return_purchase(
                session,
                purchase_id=receipt["id"],
                external_id=f"RET-{i}",
                items=None,
                amount_minor=3000,
                fingerprint=f"RET-{i}",
                actor=cli_actor(),
            )
            session.commit()
            return outcome

    outcomes = race(6, give_back)
    accepted = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(accepted) == 3  # 3 x 30.00 fit in 100.00; the fourth would exceed it
    assert all(isinstance(o, ReturnExceedsPurchase) for o in outcomes if isinstance(o, Exception))
    assert sum(o.receipt["points_reversed"] for o in accepted) == 90
    with committed() as session:
        assert_ledger_consistent(session, member.id)
