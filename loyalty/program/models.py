from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow


class Program(Base):
    """The coalition program's settings: one row."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    redemption_points: Mapped[int] = mapped_column(BigInteger)
    redemption_value_minor: Mapped[int] = mapped_column(BigInteger)
    pending_days: Mapped[int]
    expiry_months: Mapped[int | None]
    qualification_window_months: Mapped[int]
    tier_grace_days: Mapped[int]
    claim_window_days: Mapped[int]
    timezone: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("redemption_points > 0 AND redemption_value_minor > 0", name="rate_positive"),
    )
