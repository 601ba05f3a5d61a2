"""Redemptions, cancellations and uses racing each other on real, separate database connections.

On PostgreSQL these are true races between transactions; on SQLite the same
tests check that writers queue on the database lock and still count exactly.
"""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.actors import cli_actor
from loyalty.errors import AlreadyUsed, InsufficientPoints, RedemptionCancelled, RewardUnavailable
from loyalty.ledger import services as ledger
from loyalty.ledger.models import LedgerEntry
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.services import pay_with_points, redeem_reward
from loyalty.rewards.usage import cancel_redemption, use_redemption
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_rewards import give_points, make_reward, redeem
from tests.ledger_checks import assert_ledger_consistent


def members_with(committed, points: int, count: int = 1):
    with committed() as session:
        people = [make_member(session) for _ in range(count)]
        for member in people:
            give_points(session, member, points)
    return people


def redeem_in_own_transaction(committed, member_id: str, reward_id: str, key: str, fingerprint: str | None = None):
    with committed() as session:
        outcome = redeem_reward(
            session,
            member_id=member_id,
            reward_id=reward_id,
            idempotency_key=key,
            fingerprint=fingerprint or key,
            actor=cli_actor(),
        )
        session.commit()
        return outcome


def available(session, member_id: str) -> int:
    session.expire_all()
    return ledger.balance(session, ledger.lock_member(session, member_id)).available


def test_fifty_redemptions_at_once_against_a_balance_for_ten_give_exactly_ten(committed):
    (member,) = members_with(committed, 100)
    with committed() as session:
        reward = make_reward(session, points_cost=10)

    outcomes = race(50, lambda i: redeem_in_own_transaction(committed, member.id, reward.id, f"K-{i}"))

    accepted = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(accepted) == 10
    assert all(isinstance(o, InsufficientPoints) for o in refused), refused
    # Each accepted one saw a balance ten points lower than the one before: never below zero.
    assert sorted(o.receipt["balance"]["available"] for o in accepted) == list(range(0, 100, 10))
    with committed() as session:
        assert available(session, member.id) == 0
        assert session.scalar(select(func.count()).select_from(Redemption)) == 10
        assert session.get(Reward, reward.id).issued == 10
        assert_ledger_consistent(session, member.id)


def test_fifty_payments_at_once_never_take_the_balance_below_zero(committed):
    (member,) = members_with(committed, 500)

    def pay(i: int):
        with committed() as session:
            outcome = pay_with_points(
                session,
                member_id=member.id,
                points=30,
                idempotency_key=f"P-{i}",
                fingerprint=f"P-{i}",
                actor=cli_actor(),
            )
            session.commit()
            return outcome

    outcomes = race(50, pay)
    accepted = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(accepted) == 16  # 16 x 30 = 480 of 500; a 17th would need 510
    assert all(isinstance(o, InsufficientPoints) for o in outcomes if isinstance(o, Exception))
    with committed() as session:
        assert available(session, member.id) == 20
        assert_ledger_consistent(session, member.id)


def test_a_reward_with_a_stock_of_five_redeemed_by_twenty_members_at_once_issues_exactly_five(committed):
    people = members_with(committed, 50, count=20)
    with committed() as session:
        reward = make_reward(session, points_cost=50, stock=5)

    outcomes = race(20, lambda i: redeem_in_own_transaction(committed, people[i].id, reward.id, "K"))

    winners = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(winners) == 5
    assert all(isinstance(o, RewardUnavailable) for o in outcomes if isinstance(o, Exception))
    with committed() as session:
        assert session.get(Reward, reward.id).issued == 5
        assert session.scalar(select(func.count()).select_from(Redemption)) == 5
        for i, member in enumerate(people):
            assert available(session, member.id) == (0 if i in winners else 50)
            assert_ledger_consistent(session, member.id)


def test_the_same_idempotency_key_sent_twenty_times_at_once_takes_effect_once(committed):
    (member,) = members_with(committed, 1000)
    with committed() as session:
        reward = make_reward(session, points_cost=100, stock=50)

    outcomes = race(20, lambda _i: redeem_in_own_transaction(committed, member.id, reward.id, "K-SAME"))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.receipt_json for o in outcomes}) == 1  # every retry got the identical bytes
    with committed() as session:
        assert session.scalar(select(func.count()).select_from(Redemption)) == 1
        assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "redeem")) == 1
        assert session.get(Reward, reward.id).issued == 1
        assert available(session, member.id) == 900
        assert_ledger_consistent(session, member.id)


def test_the_same_key_with_different_bodies_at_once_keeps_exactly_one(committed):
    (member,) = members_with(committed, 1000)
    with committed() as session:
        rewards = [make_reward(session, points_cost=10 + i) for i in range(10)]

    outcomes = race(10, lambda i: redeem_in_own_transaction(committed, member.id, rewards[i].id, "K-DIFF", f"b{i}"))

    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1 and not winners[0].replayed
    with committed() as session:
        assert available(session, member.id) == 1000 - winners[0].receipt["points"]


def test_a_cancellation_racing_a_use_of_the_same_code_exactly_one_wins(committed):
    rounds = 8
    (member,) = members_with(committed, 10 * rounds)
    with committed() as session:
        reward = make_reward(session, points_cost=10, stock=rounds)
        issued = [redeem(session, member, reward).receipt for _ in range(rounds)]

    def cancel_or_use(receipt, i: int):
        with committed() as session:
            if i == 0:
                result = cancel_redemption(session, redemption_id=receipt["id"], actor=cli_actor())
            else:
                result = use_redemption(session, code=receipt["code"], actor=cli_actor())
            session.commit()
            return result

    cancelled = 0
    for receipt in issued:
        outcomes = race(2, lambda i, receipt=receipt: cancel_or_use(receipt, i))
        failures = [o for o in outcomes if isinstance(o, Exception)]
        assert len(failures) == 1, outcomes
        # The use lost to the cancellation, or the cancellation to the use.
        assert isinstance(failures[0], RedemptionCancelled | AlreadyUsed), failures
        cancelled += isinstance(failures[0], RedemptionCancelled)

    with committed() as session:
        statuses = session.scalars(select(Redemption.status)).all()
        assert statuses.count("cancelled") == cancelled and statuses.count("used") == rounds - cancelled
        assert available(session, member.id) == 10 * cancelled
        assert session.get(Reward, reward.id).issued == rounds - cancelled
        assert_ledger_consistent(session, member.id)


def test_two_cancellations_at_once_give_the_points_back_once(committed):
    (member,) = members_with(committed, 10)
    with committed() as session:
        reward = make_reward(session, points_cost=10, stock=1)
        receipt = redeem(session, member, reward).receipt

    def cancel(_i: int):
        with committed() as session:
            cancel_redemption(session, redemption_id=receipt["id"], actor=cli_actor())
            session.commit()

    outcomes = race(5, cancel)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with committed() as session:
        assert available(session, member.id) == 10
        assert session.get(Reward, reward.id).issued == 0
        assert_ledger_consistent(session, member.id)
