from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class Reward(Base):
    """Something in the catalog that members take for points.

    ``issued`` counts the redemptions holding one of the ``stock`` (issued or
    used; a cancellation gives one back); null ``stock`` is unlimited. It only
    ever changes with a conditional ``UPDATE``, so it never passes ``stock``.
    A merchant's reward (``merchant_id`` set) is usable only at its stores.
    """

    __tablename__ = "rewards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rwd"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    points_cost: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    stock: Mapped[int | None] = mapped_column(BigInteger)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    min_tier: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    # How long a redemption's code can be used; null: until it is used or cancelled.
    valid_days: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("points_cost > 0", name="points_cost_positive"),
        CheckConstraint("issued >= 0 AND (stock IS NULL OR issued <= stock)", name="within_stock"),
        Index("ix_rewards_merchant", "merchant_id", "id"),
    )


class Redemption(Base):
    """Points spent: on a reward (a code to use once) or as payment at a till.

    ``(member_id, idempotency_key)`` is unique: a retry finds the first
    redemption and replays its ``receipt``, the exact JSON text answered then.
    ``points_expire_at`` is the earliest expiry of the lots the points came
    from: a cancellation gives them back with that expiry, never a later one.
    """

    __tablename__ = "redemptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rdm"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    reward_id: Mapped[str | None] = mapped_column(ForeignKey("rewards.id"))
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    value_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    points_expire_at: Mapped[datetime | None]
    # Where it was made (a terminal's merchant and store); null when made by the operator or the portal.
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(40))
    used_at: Mapped[datetime | None]
    used_merchant_id: Mapped[str | None] = mapped_column(String(40))
    used_store_id: Mapped[str | None] = mapped_column(String(40))
    used_key: Mapped[str | None] = mapped_column(String(100))  # the till's key for its use, so a retry replays
    cancelled_at: Mapped[datetime | None]
    # A campaign's gift: its points were the campaign's, so a cancellation gives none back.
    granted_by_campaign_id: Mapped[str | None] = mapped_column(String(40))
    receipt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_redemptions_member", "member_id", "id"),
        Index("ix_redemptions_reward_member", "reward_id", "member_id"),
        Index("ix_redemptions_merchant", "merchant_id", "id"),
        Index("ix_redemptions_used_merchant", "used_merchant_id", "used_at"),
    )
