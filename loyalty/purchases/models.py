from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import Base, json_type, new_id, utcnow


class Purchase(Base):
    """A sale at a partner's till, with the points it earned.

    ``(merchant_id, external_id)`` is unique: it is the idempotency key of the
    till. ``request_hash`` identifies the body first sent with it and
    ``receipt`` is the answer given then, replayed as it was for a retry.
    """

    __tablename__ = "purchases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pur"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"))
    occurred_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    returned_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    points_awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    available_at: Mapped[datetime | None]
    breakdown: Mapped[list] = mapped_column(json_type(), default=list)
    rule_set_version: Mapped[int | None] = mapped_column(Integer)
    claim_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    claim_expires_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    # The answer given the first time, as the exact JSON text, replayed byte for byte.
    receipt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[PurchaseItem]] = relationship(
        order_by="PurchaseItem.line", cascade="all, delete-orphan", lazy="selectin"
    )
    returns: Mapped[list[PurchaseReturn]] = relationship(order_by="PurchaseReturn.id", lazy="selectin", viewonly=True)

    __table_args__ = (
        UniqueConstraint("merchant_id", "external_id"),
        Index("ix_purchases_member", "member_id", "id"),
        Index("ix_purchases_store", "store_id", "id"),
        Index("ix_purchases_merchant_occurred", "merchant_id", "occurred_at"),
        # A period of purchases in the order they happened (rule simulations), and a
        # member's purchases before a moment (the member facts as they were then).
        Index("ix_purchases_occurred", "occurred_at", "id"),
        Index("ix_purchases_member_occurred", "member_id", "occurred_at"),
    )


class PurchaseItem(Base):
    """One line of a purchase; ``returned_quantity`` grows with each return of it."""

    __tablename__ = "purchase_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)


class PurchaseReturn(Base):
    """Goods or an amount given back; the points taken back in proportion.

    ``(merchant_id, external_id)`` is unique, like a purchase's.
    """

    __tablename__ = "purchase_returns"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ret"))
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list] = mapped_column(json_type(), default=list)
    points_reversed: Mapped[int] = mapped_column(BigInteger)
    receipt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("merchant_id", "external_id"),)
