from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class ServiceCase(Base):
    """A member's complaint (most often missing points), from the member, a cashier or staff, until resolved."""

    __tablename__ = "service_cases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("case"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(24), default="missing_points")
    source: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="open")
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(40))
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    receipt_ref: Mapped[str | None] = mapped_column(String(100))
    occurred_on: Mapped[datetime | None]
    points_claimed: Mapped[int | None] = mapped_column(BigInteger)
    points_granted: Mapped[int | None] = mapped_column(BigInteger)
    adjustment_id: Mapped[str | None] = mapped_column(String(40))
    resolution: Mapped[str | None] = mapped_column(Text)
    opened_by_kind: Mapped[str] = mapped_column(String(16))
    opened_by_name: Mapped[str] = mapped_column(String(200))
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("priority IN ('urgent', 'normal')", name="priority"),
        CheckConstraint("status IN ('open', 'in_progress', 'resolved', 'rejected')", name="status"),
        CheckConstraint("source IN ('member', 'cashier', 'staff')", name="source"),
        Index("ix_service_cases_queue", "status", "priority", "opened_at"),
        Index("ix_service_cases_member", "member_id", "opened_at"),
    )


class ServiceNote(Base):
    """A note by staff on a member, optionally on one of their cases; shown in the member's timeline."""

    __tablename__ = "service_notes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("service_cases.id"))
    body: Mapped[str] = mapped_column(Text)
    author_kind: Mapped[str] = mapped_column(String(16))
    author_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_service_notes_member", "member_id", "created_at"),)
