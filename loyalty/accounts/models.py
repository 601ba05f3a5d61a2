from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, utcnow


class MemberLogin(Base):
    """How a member signs in to the portal: their email (``members.email``) and this password.

    ``session_version`` is in every signed-in session's cookie; it goes up when
    the password changes, which signs out every browser signed in before.
    """

    __tablename__ = "member_logins"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None]


class MarketingConsent(Base):
    """Whether a member agrees to marketing on one channel, since when, and where they said so.

    ``members.marketing_opt_in`` stays true while any channel is granted.
    """

    __tablename__ = "marketing_consents"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
