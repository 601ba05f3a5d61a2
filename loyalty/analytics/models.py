from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow

# The lifecycle stages, in the order of the relationship: build, maintain, recover.
LIFECYCLE_STAGES = ("prospect", "first_purchase", "growth", "maturity", "at_risk", "lapsed", "lost", "won_back")


class LifecycleStageChange(Base):
    """A member moving from one lifecycle stage to another; flows between stages are counted from these."""

    __tablename__ = "lifecycle_stage_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_lifecycle_stage_changes_member", "member_id", "changed_at"),
        Index("ix_lifecycle_stage_changes_changed", "changed_at"),
    )


class MemberAnalytics(Base):
    """One member's figures from the last analytics run: RFM scores and segment, and predicted value.

    Scores are rank-based quintiles, 5 the best. ``p_alive``, ``expected_purchases_90d``
    and ``predicted_value_minor`` come from the BG/NBD and Gamma-Gamma models; they are
    statistics, not points or money owed, so floats are fine (the value is rounded to
    minor units). ``value_band`` is the quintile of predicted value, 5 the highest.
    """

    __tablename__ = "member_analytics"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    purchases: Mapped[int] = mapped_column(Integer, default=0)
    first_purchase_at: Mapped[datetime | None]
    last_purchase_at: Mapped[datetime | None]
    recency_days: Mapped[int | None] = mapped_column(Integer)
    median_gap_days: Mapped[float | None] = mapped_column(Float)
    monetary_minor: Mapped[int | None] = mapped_column(BigInteger)
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    m_score: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases_90d: Mapped[float | None] = mapped_column(Float)
    predicted_value_minor: Mapped[int | None] = mapped_column(BigInteger)
    value_band: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_member_analytics_segment", "rfm_segment"),
        Index("ix_member_analytics_value_band", "value_band"),
    )


class AnalyticsRun(Base):
    """One nightly (or requested) analytics run: its progress, the fitted model parameters and timings."""

    __tablename__ = "analytics_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("anr"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    members: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    stats: Mapped[dict] = mapped_column(json_type(), default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_analytics_runs_created", "created_at"),)
