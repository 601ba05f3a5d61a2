from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class LoginToken(Base):
    """A one-time secret sent to someone to prove they hold an address: a link's token or a short code.

    Only a hash of the secret is kept. ``subject_id`` is whose it is (a member's
    id, a staff user's id); ``data`` carries what the secret unlocks, such as
    the password hash chosen before the address was proven. A secret is spent
    once (``used_at``), lapses at ``expires_at``, and a code is void after a few
    wrong guesses (``attempts``).
    """

    __tablename__ = "login_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ltk"))
    purpose: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(json_type(), default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_login_tokens_secret_hash", "secret_hash"),
        Index("ix_login_tokens_subject", "subject_id", "purpose"),
    )
