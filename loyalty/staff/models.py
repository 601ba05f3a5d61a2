from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class StaffUser(Base):
    """Someone who signs in to the staff console: the operator's admins and marketers, or a merchant's staff.

    A merchant's staff (``role`` merchant) are bound to one merchant and see only
    it. ``session_version`` is part of every signed-in session: bumping it (a new
    password, a disabled account) signs every browser out at once.
    """

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("stf"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None]
    last_failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'marketer', 'merchant')", name="role"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("(role = 'merchant') = (merchant_id IS NOT NULL)", name="merchant_staff_bound"),
        Index("ix_staff_users_merchant", "merchant_id", "id"),
    )
