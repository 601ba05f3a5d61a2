from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class WebhookSubscription(Base):
    """A merchant's endpoint and the events it receives there, signed with a secret kept encrypted.

    After a rotation the previous secret still signs deliveries (beside the new
    one) until ``previous_secret_expires_at``, so the receiver can switch without
    refusing any. A deleted subscription keeps its delivery log but sends nothing.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whk"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(json_type(), default=list)
    description: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    # The purchase path asks, per event, which live subscriptions a merchant has.
    __table_args__ = (Index("ix_webhook_subscriptions_merchant", "merchant_id", "deleted_at"),)


class WebhookEvent(Base):
    """Something that happened, as the exact JSON body sent to every subscription that receives it."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("evt"))
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one subscription: its attempts, the last answer or error, and what is next.

    ``status`` is ``pending`` (not tried yet, or waiting for a retry at
    ``next_attempt_at``), ``succeeded`` (a 2xx answer), ``failed`` (every attempt
    failed) or ``cancelled`` (the subscription was deleted first). A redelivery is
    a new delivery of the same event (``redelivery_of`` the one asked for).
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whd"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    redelivery_of: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
        # The sweep for deliveries whose job was lost reads the pending ones by when they are due.
        Index("ix_webhook_deliveries_pending", "status", "next_attempt_at"),
    )
