"""Purchase histories for the analytics tests, written straight to the purchases table (what the run reads)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from loyalty.members.models import Member
from loyalty.purchases.models import Purchase
from tests.factories import unique

DAY = timedelta(days=1)


def history(session, store, member, days_ago: list[int], *, now: datetime, total_minor: int = 1000, **extra):
    """Purchases by ``member`` at ``store`` that many days before ``now`` (committed)."""
    for ago in days_ago:
        session.add(
            Purchase(
                merchant_id=store.merchant_id,
                store_id=store.id,
                external_id=unique("A"),
                request_hash="0" * 64,
                member_id=member.id,
                occurred_at=now - ago * DAY,
                currency="EUR",
                total_minor=total_minor,
                returned_minor=extra.get("returned_minor", 0),
                points_awarded=0,
            )
        )
    session.commit()


def enrolled(session, member, at: datetime) -> None:
    session.execute(update(Member).where(Member.id == member.id).values(enrolled_at=at))
    session.commit()
