"""A merchant's prepaid points: its own rules draw on them, stop when they run out, and never overspend them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from loyalty.actors import cli_actor
from loyalty.errors import ValidationFailed
from loyalty.notifications.models import Notification
from loyalty.outbox.models import OutboxMessage
from loyalty.program.services import update_program
from loyalty.purchases.services import record_purchase
from loyalty.settlement.models import MerchantFunding
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_settlement import OPERATOR_BASE, active_rule, active_rules, set_funding, top_up
from tests.factories_staff import make_staff


def setup(session, *, balance: int, when_exhausted: str = "continue", warn_below: int | None = None):
    merchant = make_merchant(session)
    store = make_store(session, merchant.id)
    base = active_rule(session, **OPERATOR_BASE)
    own = active_rule(session, merchant_id=merchant.id, name="House bonus", effect={"type": "bonus", "points": 30})
    set_funding(session, merchant.id, prepaid=True, when_exhausted=when_exhausted, warn_below=warn_below)
    if balance:
        top_up(session, merchant.id, balance)
    return merchant, store, base, own


def fired(outcome) -> dict[str, int]:
    return {line["rule_id"]: line["points"] for line in outcome.receipt["breakdown"]}


def balance(session, merchant_id: str) -> int:
    session.expire_all()
    return session.get(MerchantFunding, merchant_id).prepaid_balance


def test_own_rules_draw_on_the_prepaid_balance_and_stop_when_it_cannot_cover_them(db_session):
    merchant, store, base, own = setup(db_session, balance=70)
    member = make_member(db_session)
    rules = active_rules(db_session)

    first = buy(db_session, store, member=member, rules=rules, total_minor=1000)
    second = buy(db_session, store, member=member, rules=rules, total_minor=1000)
    assert fired(first) == fired(second) == {base.id: 10, own.id: 30}
    assert balance(db_session, merchant.id) == 10

    # 10 left cannot cover 30: the house bonus does not fire, the operator's base earning goes on.
    third = buy(db_session, store, member=member, rules=rules, total_minor=1000)
    assert fired(third) == {base.id: 10}
    assert balance(db_session, merchant.id) == 10


def test_when_the_operator_says_stop_nothing_is_earned_at_an_exhausted_merchant(db_session):
    _merchant, store, base, own = setup(db_session, balance=30, when_exhausted="stop")
    member = make_member(db_session)
    rules = active_rules(db_session)
    assert fired(buy(db_session, store, member=member, rules=rules)) == {base.id: 42, own.id: 30}
    stopped = buy(db_session, store, member=member, rules=rules)
    assert stopped.receipt["points_awarded"] == 0 and stopped.receipt["breakdown"] == []
    # Another merchant's stores are not affected.
    elsewhere = make_store(db_session, make_merchant(db_session).id)
    assert fired(buy(db_session, elsewhere, member=member, rules=rules)) == {base.id: 42}


def test_a_top_up_lets_the_own_rules_fire_again(db_session):
    merchant, store, _base, own = setup(db_session, balance=0)
    member = make_member(db_session)
    rules = active_rules(db_session)
    assert own.id not in fired(buy(db_session, store, member=member, rules=rules))
    top_up(db_session, merchant.id, 30, amount_minor=300)
    assert own.id in fired(buy(db_session, store, member=member, rules=rules))
    assert balance(db_session, merchant.id) == 0


def test_staff_are_warned_once_when_the_balance_falls_below_the_warning_level(db_session, run_jobs):
    merchant, store, _base, _own = setup(db_session, balance=100, warn_below=50)
    staff = make_staff(db_session, "merchant", merchant_id=merchant.id)
    member = make_member(db_session)
    rules = active_rules(db_session)
    warnings = select(OutboxMessage).where(OutboxMessage.task.endswith("warn_prepaid_low"))

    buy(db_session, store, member=member, rules=rules)  # 70 left
    assert db_session.scalars(warnings).all() == []
    buy(db_session, store, member=member, rules=rules)  # 40 left: below 50
    buy(db_session, store, member=member, rules=rules)  # 10 left: still below, no second warning
    assert len(db_session.scalars(warnings).all()) == 1
    run_jobs()
    sent = db_session.scalars(select(Notification).where(Notification.template == "prepaid_low")).all()
    assert [(n.recipient, n.data["balance"]) for n in sent] == [(staff.email, 40)]


def test_funding_settings_are_checked_and_audited(db_session):
    merchant = make_merchant(db_session)
    with pytest.raises(ValidationFailed):
        set_funding(db_session, merchant.id, issue_per_points=0)
    with pytest.raises(ValidationFailed):
        set_funding(db_session, merchant.id, when_exhausted="sometimes")
    with pytest.raises(ValidationFailed):
        set_funding(db_session, merchant.id, issue_price_minor=1.5)
    db_session.rollback()
    funding = set_funding(db_session, merchant.id, issue_price_minor=5, issue_per_points=10)
    assert (funding.issue_price_minor, funding.issue_per_points) == (5, 10)


def test_a_merchant_without_prepaid_funding_costs_the_purchase_no_extra_statement(db_session):
    plain, prepaid = make_merchant(db_session), make_merchant(db_session)
    plain_store, prepaid_store = make_store(db_session, plain.id), make_store(db_session, prepaid.id)
    active_rule(db_session, **OPERATOR_BASE)
    set_funding(db_session, plain.id, issue_price_minor=1)  # a funding row, not prepaid
    active_rule(db_session, merchant_id=prepaid.id, effect={"type": "bonus", "points": 5})
    set_funding(db_session, prepaid.id, prepaid=True)
    top_up(db_session, prepaid.id, 1000)
    member = make_member(db_session)
    rules = active_rules(db_session)
    buy(db_session, plain_store, member=member, rules=rules)  # warm the caches

    def statements(store) -> list[str]:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        connection = db_session.connection()
        event.listen(connection, "before_cursor_execute", listener)
        try:
            buy(db_session, store, member=member, rules=rules)
        finally:
            event.remove(connection, "before_cursor_execute", listener)
        return seen

    no_row = statements(make_store(db_session, make_merchant(db_session).id))
    with_row = statements(plain_store)
    assert len(no_row) == len(with_row)
    # The funding is read in the statement that reads the store, and nowhere else.
    assert [s for s in with_row if "merchant_fundings" in s] == [s for s in with_row if "FROM stores" in s]
    assert len([s for s in with_row if "merchant_fundings" in s]) == 1
    # A prepaid merchant's purchase draws on its balance: that one does cost statements.
    drawn = statements(prepaid_store)
    assert len([s for s in drawn if s.lstrip().startswith("UPDATE merchant_fundings")]) == 1


def test_concurrent_purchases_never_overspend_the_prepaid_balance(committed):
    # True races between transactions on PostgreSQL; on SQLite the writers queue on the database lock.
    with committed() as session:
        update_program(session, changes={"pending_days": 0}, actor=cli_actor())
        merchant, store, base, own = setup(session, balance=95)
        members = [make_member(session) for _ in range(12)]
        session.commit()

    def purchase(i: int):
        with committed() as session:
            outcome = record_purchase(
                session,
                store_id=store.id,
                terminal_id=None,
                external_id=f"PREPAID-{i}",
                member_ref={"member_id": members[i].id},
                occurred_at=datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
                currency="EUR",
                total_minor=1000,
                items=[],
                fingerprint=f"PREPAID-{i}",
                actor=cli_actor(),
            )
            session.commit()
            return outcome

    outcomes = race(12, purchase)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    bonuses = [o for o in outcomes if own.id in fired(o)]
    # 95 prepaid points cover three bonuses of 30, never a fourth; everyone got the base points.
    assert len(bonuses) == 3
    assert all(fired(o)[base.id] == 10 for o in outcomes)
    with committed() as session:
        assert session.get(MerchantFunding, merchant.id).prepaid_balance == 5
