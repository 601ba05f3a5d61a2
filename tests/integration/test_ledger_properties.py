"""Random sequences of ledger operations, expiry runs among them, keep every invariant API.md promises."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty.actors import cli_actor
from loyalty.errors import AlreadyUsed, InsufficientPoints, RedemptionCancelled, ReturnExceedsPurchase
from loyalty.ledger import services as ledger
from loyalty.ledger.jobs import run_expiry
from loyalty.program.services import update_program
from loyalty.purchases.returns import return_purchase
from loyalty.rewards.usage import cancel_redemption, use_redemption
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_rewards import make_reward, redeem
from tests.ledger_checks import assert_ledger_consistent

_ids = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(min_value=0, max_value=20000), st.booleans()),
        # A share of one earlier purchase, in per cent of its total.
        st.tuples(st.just("return"), st.integers(min_value=1, max_value=100), st.integers(min_value=0, max_value=9)),
        st.tuples(st.just("redeem"), st.integers(min_value=1, max_value=300), st.just(0)),
        st.tuples(st.just("adjust"), st.integers(min_value=-200, max_value=200).filter(bool), st.just(0)),
        # A reward of that cost, redeemed through the service; then one earlier redemption cancelled or used.
        st.tuples(st.just("reward"), st.integers(min_value=1, max_value=300), st.just(0)),
        st.tuples(st.just("cancel"), st.just(0), st.integers(min_value=0, max_value=9)),
        st.tuples(st.just("use"), st.just(0), st.integers(min_value=0, max_value=9)),
        # The expiry job, run as if so many days had passed (lots expire 24 months after they are available).
        st.tuples(st.just("expire"), st.sampled_from([0, 400, 740, 800]), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
# Spend most of a purchase's points, then return it whole: the balance goes below zero.
@example(steps=[("buy", 20000, False), ("redeem", 150, 0), ("return", 100, 0), ("buy", 5000, True)])
# A reward redeemed, the purchase returned (the balance goes negative), then the reward cancelled.
@example(steps=[("buy", 20000, False), ("reward", 150, 0), ("return", 100, 0), ("cancel", 0, 0), ("use", 0, 0)])
# Spent points returned become debt while other points are pending; those expire later: the debt stays.
@example(
    steps=[
        ("buy", 10000, False),
        ("buy", 20000, True),
        ("redeem", 100, 0),
        ("return", 100, 0),
        ("expire", 800, 0),
        ("buy", 500, False),
    ]
)
def test_balances_always_equal_the_ledger_and_no_lot_goes_negative(db_session, steps):
    store = make_store(db_session, make_merchant(db_session).id)
    member = make_member(db_session)
    receipts = []
    redemptions = []
    for kind, amount, option in steps:
        if kind == "buy":
            # option: pending (14 days) or available at once
            update_program(db_session, changes={"pending_days": 14 if option else 0}, actor=cli_actor())
            receipts.append((amount, buy(db_session, store, member=member, total_minor=amount).receipt))
        elif kind == "return" and receipts:
            total, receipt = receipts[option % len(receipts)]
            try:
                return_purchase(
                    db_session,
                    purchase_id=receipt["id"],
                    external_id=f"RET-{next(_ids)}",
                    items=None,
                    amount_minor=max(1, total * amount // 100),
                    fingerprint="f",
                    actor=cli_actor(),
                )
                db_session.commit()
            except ReturnExceedsPurchase:
                db_session.rollback()
        elif kind == "reward":
            reward = make_reward(db_session, points_cost=amount)
            before = ledger.balance(db_session, ledger.lock_member(db_session, member.id)).available
            db_session.rollback()
            try:
                redemptions.append(redeem(db_session, member, reward).receipt)
            except InsufficientPoints:
                db_session.rollback()
                assert before < amount
        elif kind in ("cancel", "use") and redemptions:
            receipt = redemptions[option % len(redemptions)]
            try:
                if kind == "cancel":
                    cancel_redemption(db_session, redemption_id=receipt["id"], actor=cli_actor())
                else:
                    use_redemption(db_session, code=receipt["code"], actor=cli_actor())
                db_session.commit()
            except (AlreadyUsed, RedemptionCancelled):
                db_session.rollback()
        elif kind == "expire":
            run_expiry(db_session, now=ledger.utcnow() + timedelta(days=amount))
        elif kind in ("redeem", "adjust"):
            locked = ledger.lock_member(db_session, member.id)
            context = ledger.EntryContext(actor=cli_actor(), note="property test")
            try:
                if kind == "adjust" and amount > 0:
                    ledger.add_points(
                        db_session,
                        locked,
                        kind="adjust",
                        points=amount,
                        available_at=ledger.utcnow(),
                        expires_at=None,
                        context=context,
                    )
                else:
                    ledger.take_points(db_session, locked, kind=kind, points=abs(amount), context=context)
                db_session.commit()
            except InsufficientPoints:
                db_session.rollback()
                assert ledger.balance(db_session, locked).available < abs(amount)
        assert_ledger_consistent(db_session, member.id)
