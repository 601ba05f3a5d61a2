from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, String, false, text, true
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, utcnow


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
    # The operator's limits on the rules merchants write for their own stores (null: no limit).
    merchants_may_write_rules: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    merchant_max_multiplier_percent: Mapped[int | None] = mapped_column(Integer)
    merchant_max_bonus_points: Mapped[int | None] = mapped_column(BigInteger)
    merchant_max_points_per_item: Mapped[int | None] = mapped_column(BigInteger)
    merchant_max_rate_points: Mapped[int | None] = mapped_column(BigInteger)
    merchant_max_rate_per_minor: Mapped[int | None] = mapped_column(BigInteger)
    merchant_max_budget_points: Mapped[int | None] = mapped_column(BigInteger)
    merchant_require_budget: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    merchant_allow_exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Marketing contact-frequency cap: at most this many campaign messages per member in any
    # rolling window of this many days, whatever the campaigns ask (loyalty.campaigns).
    contact_cap_count: Mapped[int] = mapped_column(Integer, default=3, server_default=text("3"))
    contact_cap_days: Mapped[int] = mapped_column(Integer, default=30, server_default=text("30"))
    # Thresholds of the lifecycle stages (loyalty.analytics.lifecycle); keys left out take their defaults.
    lifecycle_settings: Mapped[dict] = mapped_column(json_type(), default=dict, server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("redemption_points > 0 AND redemption_value_minor > 0", name="rate_positive"),
        CheckConstraint("contact_cap_count >= 0 AND contact_cap_days > 0", name="contact_cap"),
        CheckConstraint(
            "(merchant_max_rate_points IS NULL) = (merchant_max_rate_per_minor IS NULL)", name="merchant_rate_pair"
        ),
    )
