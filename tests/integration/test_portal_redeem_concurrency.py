"""A portal redeem form sent several times at once (a double click, a retry) redeems once.

Each send is its own transaction on its own connection: true races on PostgreSQL,
writers queuing on the database lock on SQLite.
"""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.accounts import selfservice
from loyalty.ledger.models import LedgerEntry
from loyalty.rewards.models import Redemption, Reward
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_rewards import give_points, make_reward
from tests.ledger_checks import assert_ledger_consistent


def test_the_same_form_sent_five_times_at_once_redeems_once_and_answers_the_same_code(committed):
    with committed() as session:
        member = make_member(session)
        give_points(session, member, 1000)
        reward = make_reward(session, points_cost=300, stock=10)

    def send(_i: int) -> dict:
        with committed() as session:
            receipt = selfservice.redeem(
                session, member_id=member.id, reward_id=reward.id, form_key="same-form-key-123456"
            )
            session.commit()
            return receipt

    receipts = race(5, send)

    assert not [r for r in receipts if isinstance(r, Exception)], receipts
    assert len({r["id"] for r in receipts}) == 1 and len({r["code"] for r in receipts}) == 1
    with committed() as session:
        assert (
            session.scalar(select(func.count()).select_from(Redemption).where(Redemption.member_id == member.id)) == 1
        )
        kinds = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.member_id == member.id)
        assert session.scalar(kinds.where(LedgerEntry.kind == "redeem")) == 1
        assert session.get(Reward, reward.id).issued == 1
        assert_ledger_consistent(session, member.id)


def test_different_forms_at_once_never_spend_more_than_the_balance(committed):
    with committed() as session:
        member = make_member(session)
        give_points(session, member, 1000)
        reward = make_reward(session, points_cost=300)

    def send(i: int):
        with committed() as session:
            receipt = selfservice.redeem(
                session, member_id=member.id, reward_id=reward.id, form_key=f"form-key-{i:012d}"
            )
            session.commit()
            return receipt

    results = race(6, send)

    assert len([r for r in results if isinstance(r, dict)]) == 3
    with committed() as session:
        assert_ledger_consistent(session, member.id)
