"""Points earned at the till, returned, and claimed: the ledger service on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select

from loyalty.actors import cli_actor
from loyalty.errors import (
    AlreadyClaimed,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidState,
    MemberNotFound,
    NotFound,
    ReturnExceedsPurchase,
)
from loyalty.ledger import services as ledger
from loyalty.ledger.models import LedgerEntry
from loyalty.members.cards import new_card_number
from loyalty.members.models import Member
from loyalty.program.services import update_program
from loyalty.purchases.models import Purchase
from loyalty.purchases.returns import return_purchase
from loyalty.purchases.services import claim_purchase
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy, ruleset
from tests.ledger_checks import assert_ledger_consistent


@pytest.fixture()
def store(db_session):
    return make_store(db_session, make_merchant(db_session).id, timezone="Europe/Lisbon")


def set_program(session, **changes):
    update_program(session, changes=changes, actor=cli_actor())
    session.commit()


def entries(session, member_id):
    return session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)).all()


def test_a_purchase_earns_pending_points_that_become_available_after_the_pending_days(db_session, store):
    set_program(db_session, pending_days=14)
    member = make_member(db_session)
    outcome = buy(db_session, store, member=member, total_minor=4250)
    receipt = outcome.receipt
    assert not outcome.replayed
    assert receipt["points_awarded"] == 42
    assert receipt["points_status"] == "pending"
    assert receipt["balance"] == {"available": 0, "pending": 42}
    assert receipt["breakdown"] == [{"rule_id": "rul_base", "rule_name": "One point per euro", "points": 42}]

    member = db_session.get(Member, member.id)
    later = datetime.now(UTC) + timedelta(days=14, minutes=1)
    # Time alone makes them available: nobody has to run anything.
    assert ledger.balance(db_session, member, later) == ledger.Balance(available=42, pending=0)
    (entry,) = entries(db_session, member.id)
    assert (entry.kind, entry.points, entry.balance_after, entry.purchase_id) == ("earn", 42, 0, receipt["id"])
    assert entry.expires_at is not None and entry.expires_at > entry.available_at
    assert member.purchase_count == 1 and member.last_purchase_at is not None
    assert_ledger_consistent(db_session, member.id)


def test_a_purchase_while_points_are_pending_counts_them_in_its_balance_and_entry(db_session, store):
    set_program(db_session, pending_days=0)
    member = make_member(db_session)
    buy(db_session, store, member=member, total_minor=1000)  # 10 available
    set_program(db_session, pending_days=14)
    buy(db_session, store, member=member, total_minor=2000)  # 20 pending
    receipt = buy(db_session, store, member=member, total_minor=3000).receipt  # 30 more pending
    assert receipt["balance"] == {"available": 10, "pending": 50}
    assert [(e.points, e.balance_after, e.lot_remaining) for e in entries(db_session, member.id)] == [
        (10, 10, 10),
        (20, 10, 20),
        (30, 10, 30),
    ]
    member = db_session.get(Member, member.id)
    assert (member.points_balance, member.purchase_count) == (60, 3)
    assert_ledger_consistent(db_session, member.id)


def test_with_no_pending_days_points_are_available_at_once_and_never_expire_when_expiry_is_off(db_session, store):
    set_program(db_session, pending_days=0, expiry_months=None)
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=1999).receipt
    assert receipt["points_status"] == "available"
    assert receipt["balance"] == {"available": 19, "pending": 0}
    (entry,) = entries(db_session, member.id)
    assert entry.balance_after == 19 and entry.expires_at is None


def test_a_member_written_by_the_ledger_is_left_clean_and_a_later_change_is_still_saved(db_session):
    member_id = make_member(db_session).id
    db_session.commit()
    member = ledger.lock_member(db_session, member_id)
    now = datetime.now(UTC)
    context = ledger.EntryContext(actor=cli_actor(), note="welcome")
    ledger.add_points(db_session, member, kind="adjust", points=40, available_at=now, expires_at=None, context=context)
    ledger.write_member(db_session, member)
    # Written at once: nothing is left for the unit of work to look over.
    assert not inspect(member).modified and not db_session.dirty
    member.name = "Ada Quay"  # a change after the write is tracked and saved as any other
    assert inspect(member).modified and member in db_session.dirty
    db_session.commit()
    db_session.expire_all()
    saved = db_session.execute(select(Member.points_balance, Member.name).where(Member.id == member_id)).one()
    assert tuple(saved) == (40, "Ada Quay")
    assert_ledger_consistent(db_session, member_id)


def test_the_same_external_id_and_body_replays_the_first_receipt_and_awards_nothing_more(db_session, store):
    member = make_member(db_session)
    first = buy(db_session, store, member=member, external_id="R-1", fingerprint="body-a")
    again = buy(db_session, store, member=member, external_id="R-1", fingerprint="body-a")
    assert again.replayed and again.receipt == first.receipt
    with pytest.raises(IdempotencyConflict):
        buy(db_session, store, member=member, external_id="R-1", fingerprint="body-b")
    assert len(entries(db_session, member.id)) == 1
    assert db_session.scalar(select(func.count()).select_from(Purchase)) == 1


def test_the_same_external_id_at_another_merchant_is_another_purchase(db_session, store):
    member = make_member(db_session)
    other = make_store(db_session, make_merchant(db_session).id)
    buy(db_session, store, member=member, external_id="R-1")
    second = buy(db_session, other, member=member, external_id="R-1")
    assert not second.replayed
    assert len(entries(db_session, member.id)) == 2


def test_a_currency_the_program_does_not_run_in_is_refused_and_nothing_is_written(db_session, store):
    member = make_member(db_session)
    with pytest.raises(CurrencyMismatch):
        buy(db_session, store, member=member, currency="USD")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Purchase)) == 0


def test_an_unknown_member_is_member_not_found(db_session, store):
    from loyalty.purchases.services import record_purchase

    with pytest.raises(MemberNotFound):
        record_purchase(
            db_session,
            store_id=store.id,
            terminal_id=None,
            external_id="R-404",
            member_ref={"card_number": new_card_number()},  # valid, but nobody's
            occurred_at=datetime.now(UTC),
            currency="EUR",
            total_minor=100,
            items=[],
            fingerprint="x",
            ruleset=ruleset(),
            actor=cli_actor(),
        )


def test_an_anonymous_purchase_gets_a_claim_code_that_a_member_claims_once(db_session, store):
    set_program(db_session, pending_days=0)
    receipt = buy(db_session, store, total_minor=3000).receipt
    assert receipt["member_id"] is None and receipt["points_awarded"] == 30
    code = receipt["claim_code"]
    assert len(code) == 11 and code[5] == "-"

    member = make_member(db_session)
    claimed = claim_purchase(
        db_session, member_id=member.id, claim_code=code.lower().replace("-", " "), actor=cli_actor()
    )
    db_session.commit()
    assert claimed["points"] == 30 and claimed["balance"] == {"available": 30, "pending": 0}
    (entry,) = entries(db_session, member.id)
    assert entry.kind == "claim" and entry.breakdown[0]["rule_id"] == "rul_base"
    with pytest.raises(AlreadyClaimed):
        claim_purchase(db_session, member_id=make_member(db_session).id, claim_code=code, actor=cli_actor())
    with pytest.raises(NotFound):
        claim_purchase(db_session, member_id=member.id, claim_code="AAAAA-AAAAA", actor=cli_actor())
    assert_ledger_consistent(db_session, member.id)


def test_a_claim_after_the_window_is_refused(db_session, store):
    set_program(db_session, claim_window_days=30)
    receipt = buy(db_session, store, occurred_at=datetime.now(UTC) - timedelta(days=31)).receipt
    with pytest.raises(InvalidState):
        claim_purchase(
            db_session, member_id=make_member(db_session).id, claim_code=receipt["claim_code"], actor=cli_actor()
        )


def do_return(session, receipt, *, external_id, amount_minor=None, items=None, fingerprint=None):
    outcome = return_purchase(
        session,
        purchase_id=receipt["id"],
        external_id=external_id,
        items=items,
        amount_minor=amount_minor,
        fingerprint=fingerprint or external_id,
        actor=cli_actor(),
    )
    session.commit()
    return outcome


def test_a_return_takes_back_points_in_proportion_and_a_full_return_takes_them_all(db_session, store):
    set_program(db_session, pending_days=0)
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=10000).receipt  # 100 points
    first = do_return(db_session, receipt, external_id="RET-1", amount_minor=3333).receipt
    assert first["points_reversed"] == 33 and first["balance"] == {"available": 67, "pending": 0}
    second = do_return(db_session, receipt, external_id="RET-2", amount_minor=6667).receipt
    assert second["points_reversed"] == 67 and second["balance"]["available"] == 0
    with pytest.raises(ReturnExceedsPurchase):
        do_return(db_session, receipt, external_id="RET-3", amount_minor=1)
    db_session.rollback()
    assert [e.kind for e in entries(db_session, member.id)] == ["earn", "return", "return"]
    assert_ledger_consistent(db_session, member.id)


def test_returning_items_counts_their_value_and_never_more_than_was_bought(db_session, store):
    set_program(db_session, pending_days=0)
    member = make_member(db_session)
    items = [
        {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450},
        {"sku": "CAKE", "category": "pastry", "quantity": 1, "unit_price_minor": 1100},
    ]
    receipt = buy(db_session, store, member=member, total_minor=2000, items=items).receipt  # 20 points
    assert (
        do_return(db_session, receipt, external_id="RI-1", items=[{"sku": "LATTE", "quantity": 1}]).receipt[
            "points_reversed"
        ]
        == 4
    )  # 450 of 2000 -> floor(4.5)
    with pytest.raises(ReturnExceedsPurchase):
        do_return(db_session, receipt, external_id="RI-2", items=[{"sku": "LATTE", "quantity": 2}])
    db_session.rollback()
    rest = do_return(
        db_session, receipt, external_id="RI-3", items=[{"sku": "LATTE", "quantity": 1}, {"sku": "CAKE", "quantity": 1}]
    )
    assert rest.receipt["points_reversed"] == 16  # all of the 20 are back
    assert_ledger_consistent(db_session, member.id)


def test_a_return_replays_like_a_purchase(db_session, store):
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=10000).receipt
    first = do_return(db_session, receipt, external_id="RET-1", amount_minor=5000)
    again = do_return(db_session, receipt, external_id="RET-1", amount_minor=5000)
    assert again.replayed and again.receipt == first.receipt
    with pytest.raises(IdempotencyConflict):
        do_return(db_session, receipt, external_id="RET-1", amount_minor=4000, fingerprint="other")
    assert [e.kind for e in entries(db_session, member.id)] == ["earn", "return"]


def test_a_return_takes_the_purchases_pending_points_first(db_session, store):
    set_program(db_session, pending_days=0)
    member = make_member(db_session)
    buy(db_session, store, member=member, total_minor=5000)  # 50 available
    set_program(db_session, pending_days=14)
    receipt = buy(db_session, store, member=member, total_minor=3000).receipt  # 30 pending
    assert receipt["balance"] == {"available": 50, "pending": 30}
    back = do_return(db_session, receipt, external_id="RET-P", amount_minor=3000).receipt
    assert back["points_reversed"] == 30
    assert back["balance"] == {"available": 50, "pending": 0}
    assert_ledger_consistent(db_session, member.id)


def test_returning_points_already_spent_takes_the_balance_below_zero_until_later_earnings(db_session, store):
    set_program(db_session, pending_days=0)
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=10000).receipt  # 100
    locked = ledger.lock_member(db_session, member.id)
    ledger.take_points(db_session, locked, kind="redeem", points=80, context=ledger.EntryContext(actor=cli_actor()))
    db_session.commit()
    back = do_return(db_session, receipt, external_id="RET-N", amount_minor=10000).receipt
    assert back["points_reversed"] == 100 and back["balance"]["available"] == -80
    locked = ledger.lock_member(db_session, member.id)
    with pytest.raises(InsufficientPoints):
        ledger.take_points(db_session, locked, kind="redeem", points=1, context=ledger.EntryContext(actor=cli_actor()))
    db_session.rollback()
    later = buy(db_session, store, member=member, total_minor=10000).receipt
    assert later["balance"]["available"] == 20
    assert_ledger_consistent(db_session, member.id)


def test_a_rule_limited_to_once_a_day_fires_once_per_local_day(db_session, store):
    set_program(db_session, pending_days=0)
    rules = ruleset(
        {"id": "rul_base", "name": "Base", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        {
            "id": "rul_daily",
            "name": "Daily visit bonus",
            "effect": {"type": "bonus", "points": 50},
            "limits": {"per_member": {"times": 1, "period": "day"}},
        },
    )
    member = make_member(db_session)
    morning = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    first = buy(db_session, store, member=member, rules=rules, total_minor=1000, occurred_at=morning).receipt
    second = buy(
        db_session, store, member=member, rules=rules, total_minor=1000, occurred_at=morning + timedelta(hours=3)
    ).receipt
    next_day = buy(
        db_session, store, member=member, rules=rules, total_minor=1000, occurred_at=morning + timedelta(days=1)
    ).receipt
    assert [first["points_awarded"], second["points_awarded"], next_day["points_awarded"]] == [60, 10, 60]


def test_a_budget_is_spent_exactly_and_then_the_rule_stops(db_session, store):
    rules = ruleset(
        {
            "id": "rul_promo",
            "name": "Launch promo",
            "effect": {"type": "bonus", "points": 40},
            "limits": {"budget_points": 100},
        }
    )
    awarded = [
        buy(db_session, store, member=make_member(db_session), rules=rules).receipt["points_awarded"] for _ in range(4)
    ]
    assert awarded == [40, 40, 0, 0]
