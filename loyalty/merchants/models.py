from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class MerchantApplication(Base):
    """A business asking to join the coalition; an admin approves or rejects it."""

    __tablename__ = "merchant_applications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("app"))
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))


class Merchant(Base):
    """A partner merchant of the coalition."""

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mer"))
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    require_signed_requests: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Store(Base):
    """A merchant's shop; its timezone decides local days and hours for rules."""

    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sto"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Terminal(Base):
    """A till in a store. It holds an API key and one or more signing secrets."""

    __tablename__ = "terminals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("trm"))
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TerminalSecret(Base):
    """A signing secret of a terminal, encrypted at rest.

    Several can be valid at once while a terminal rotates: the old one keeps
    working until ``expires_at``.
    """

    __tablename__ = "terminal_secrets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tsc"))
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
