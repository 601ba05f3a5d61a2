from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class LedgerEntry(Base):
    """One change of a member's points. Entries are only ever appended.

    ``balance_after`` is the member's available balance once the entry is
    applied; ``breakdown`` lists the rules that produced an earn entry.

    An entry that adds points is also a *lot*: ``lot_remaining`` is the part of
    it not yet spent, returned or expired. Lots become spendable at
    ``available_at`` and expire at ``expires_at``; spending takes the lots that
    expire first. Entries that take points away have no lot.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("led"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(40))
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    redemption_id: Mapped[str | None] = mapped_column(String(40))
    breakdown: Mapped[list] = mapped_column(json_type(), default=list)
    note: Mapped[str | None] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_key_id: Mapped[str | None] = mapped_column(String(40))
    lot_remaining: Mapped[int | None] = mapped_column(BigInteger)
    rule_set_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # The activity of one member, newest first, optionally by kind.
        Index("ix_ledger_entries_member", "member_id", "id"),
        Index("ix_ledger_entries_merchant", "merchant_id", "id"),
        Index("ix_ledger_entries_purchase", "purchase_id"),
        # A redemption's entries (settlement of a merchant's rewards redeemed in the portal); few entries have one.
        Index(
            "ix_ledger_entries_redemption",
            "redemption_id",
            postgresql_where=text("redemption_id IS NOT NULL"),
            sqlite_where=text("redemption_id IS NOT NULL"),
        ),
        # A member's entries over a period: the qualifying points of tiers (loyalty.tiers).
        Index("ix_ledger_entries_member_created", "member_id", "created_at"),
        # A member's open lots, soonest expiring first; only lots with points left.
        Index(
            "ix_ledger_entries_open_lots",
            "member_id",
            "expires_at",
            postgresql_where=text("lot_remaining > 0"),
            sqlite_where=text("lot_remaining > 0"),
        ),
        # A member's lots still pending, with their points: the pending sum every purchase and balance reads
        # (loyalty.ledger.services) walks these only, not every open lot of a member who never spends.
        Index(
            "ix_ledger_entries_pending",
            "member_id",
            "available_at",
            postgresql_include=["lot_remaining"],
            postgresql_where=text("lot_remaining > 0"),
            sqlite_where=text("lot_remaining > 0"),
        ),
        # Lots with points left by when they expire: the expiry job and its warnings
        # read a range of this, and lots leave it once spent or expired.
        Index(
            "ix_ledger_entries_expiring",
            "expires_at",
            postgresql_where=text("lot_remaining > 0"),
            sqlite_where=text("lot_remaining > 0"),
        ),
    )


class RuleUsage(Base):
    """How many times a rule has fired for a member in one period (``day:2026-11-22``...)."""

    __tablename__ = "rule_usages"

    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(24), primary_key=True)
    times: Mapped[int] = mapped_column(Integer, default=0)


class RuleBudget(Base):
    """Points a rule with a budget has given so far; never more than its budget."""

    __tablename__ = "rule_budgets"

    rule_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    spent_points: Mapped[int] = mapped_column(BigInteger, default=0)


class ExpiryWarning(Base):
    """A member was told that points expire on a date (in the program's timezone): once per date."""

    __tablename__ = "expiry_warnings"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    expires_on: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    notification_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Adjustment(Base):
    """Points an admin added or took by hand, with the reason, and the answer given.

    ``(member_id, idempotency_key)`` is unique: the same request again replays
    ``receipt`` (the exact JSON text first answered) and changes nothing.
    """

    __tablename__ = "adjustments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("adj"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str | None] = mapped_column(String(40))
    receipt: Mapped[str] = mapped_column(Text, default="")
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_key_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("member_id", "idempotency_key"),)
