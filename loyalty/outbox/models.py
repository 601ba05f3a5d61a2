from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class OutboxMessage(Base):
    """Background work recorded in the same transaction as the change it belongs to."""

    __tablename__ = "outbox_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("obx"))
    queue: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_messages_pending", "done_at", "created_at"),)
