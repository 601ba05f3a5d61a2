"""The ledger invariants API.md promises, checked from the database."""

from __future__ import annotations

from sqlalchemy import func, select


def assert_ledger_consistent(session, member_id: str) -> None:
    from loyalty.ledger.models import LedgerEntry
    from loyalty.ledger.services import balance
    from loyalty.members.models import Member

    session.expire_all()
    member = session.get(Member, member_id)
    entries_sum = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.member_id == member_id)
    )
    lots = session.scalars(
        select(LedgerEntry.lot_remaining).where(
            LedgerEntry.member_id == member_id, LedgerEntry.lot_remaining.is_not(None)
        )
    ).all()
    now_balance = balance(session, member)
    assert member.points_balance == entries_sum
    assert now_balance.available + now_balance.pending == entries_sum
    assert all(remaining >= 0 for remaining in lots)
    assert sum(lots) - member.points_debt == member.points_balance
    assert member.points_debt >= 0 and now_balance.pending >= 0
