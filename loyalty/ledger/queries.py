"""Reading the ledger."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.ledger.models import LedgerEntry
from loyalty.pagination import Page, paginate

KINDS = ("earn", "return", "redeem", "redeem_cancel", "expire", "adjust", "claim")


def list_activity(
    session: Session,
    *,
    member_id: str,
    limit: int,
    cursor: str | None,
    kind: str | None = None,
    merchant_id: str | None = None,
) -> Page[LedgerEntry]:
    """A member's ledger entries, newest first, optionally of one kind or one merchant."""
    query = select(LedgerEntry).where(LedgerEntry.member_id == member_id)
    if kind:
        query = query.where(LedgerEntry.kind == kind)
    if merchant_id:
        query = query.where(LedgerEntry.merchant_id == merchant_id)
    return paginate(session, query, LedgerEntry.id, limit=limit, cursor=cursor)
