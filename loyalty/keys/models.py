from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class ApiKey(Base):
    """An API key. Only the SHA-256 of the secret is kept; the secret is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[str | None] = mapped_column(ForeignKey("terminals.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None
