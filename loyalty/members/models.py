from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class Member(Base):
    """A shopper enrolled in the program. Erasure clears the personal columns."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mbr"))
    card_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    enrolled_by_merchant_id: Mapped[str | None] = mapped_column(String(40))
    enrolled_at_store_id: Mapped[str | None] = mapped_column(String(40))
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    referred_by_member_id: Mapped[str | None] = mapped_column(String(40))
    tier_code: Mapped[str | None] = mapped_column(String(32))
    # Set by the tier review (loyalty.tiers) while the member's qualifying points are
    # short of their tier: since when, and from when the next review lowers them by
    # one tier unless they qualify again. Both are cleared whenever the tier changes.
    tier_at_risk_since: Mapped[datetime | None]
    tier_grace_until: Mapped[datetime | None]
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="prospect")
    # The ledger's running figures, changed only by loyalty.ledger.services under
    # this row's lock: the sum of every entry's points, the points taken back
    # beyond what the member still held (paid off by the next points added),
    # and the last moment any of the member's points are still pending.
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    points_debt: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_until: Mapped[datetime | None]
    # What earning rules read about the member (member.purchase_count, .days_since_last_purchase,
    # .birthday_month); the purchase path keeps the first two up to date.
    purchase_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_purchase_at: Mapped[datetime | None]
    birth_month: Mapped[int | None] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("birth_month BETWEEN 1 AND 12", name="birth_month"),)
