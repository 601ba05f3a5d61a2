from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class LedgerEntry(Base):
    """One change of a member's points. Entries are only ever appended.

    ``balance_after`` is the member's available balance once the entry is
    applied; ``breakdown`` lists the rules that produced an earn entry.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("led"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(40))
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    redemption_id: Mapped[str | None] = mapped_column(String(40))
    breakdown: Mapped[list] = mapped_column(json_type(), default=list)
    note: Mapped[str | None] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_key_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        # The activity of one member, newest first, optionally by kind.
        Index("ix_ledger_entries_member", "member_id", "id"),
        Index("ix_ledger_entries_merchant", "merchant_id", "id"),
    )
