from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, new_id, utcnow


class MerchantFunding(Base):
    """What a merchant and the operator pay each other for points, and its optional prepaid balance.

    The merchant pays ``issue_price_minor`` per ``issue_per_points`` points its
    own rules issue at its stores; the operator pays it ``redeem_price_minor``
    per ``redeem_per_points`` points redeemed there. With ``prepaid``, its own
    rules may issue only the points of ``prepaid_balance``, which is only ever
    lowered by a conditional ``UPDATE`` (never below zero); when it cannot cover
    them they do not fire, and the operator's rules go on
    (``when_exhausted`` ``continue``) or stop too (``stop``). A warning goes to
    its staff when the balance falls below ``warn_below``.
    """

    __tablename__ = "merchant_fundings"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    issue_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    issue_per_points: Mapped[int] = mapped_column(BigInteger, default=1)
    redeem_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    redeem_per_points: Mapped[int] = mapped_column(BigInteger, default=1)
    prepaid: Mapped[bool] = mapped_column(Boolean, default=False)
    prepaid_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    warn_below: Mapped[int | None] = mapped_column(BigInteger)
    when_exhausted: Mapped[str] = mapped_column(String(16), default="continue")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "issue_price_minor >= 0 AND redeem_price_minor >= 0 AND issue_per_points > 0 AND redeem_per_points > 0",
            name="prices",
        ),
        CheckConstraint("prepaid_balance >= 0", name="prepaid_never_overspent"),
        CheckConstraint("when_exhausted IN ('continue', 'stop')", name="when_exhausted"),
    )


class PrepaidTopUp(Base):
    """Points a merchant bought in advance, and what it paid; settled in one statement (``statement_id``)."""

    __tablename__ = "prepaid_top_ups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("top"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_name: Mapped[str] = mapped_column(String(200))
    statement_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint("points > 0 AND amount_minor >= 0", name="positive"),
        Index("ix_prepaid_top_ups_merchant", "merchant_id", "id"),
    )


class Statement(Base):
    """A merchant's settlement for one calendar month of the program's timezone; closed once, never changed.

    Points issued at its stores by funder (its own rules, the operator's),
    points redeemed there, the prices then in force, the amounts each way and
    the net (positive: the merchant owes the operator). Its lines are the
    ledger entries that make it up.
    """

    __tablename__ = "statements"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("stm"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # the first day after the month
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    merchant_points: Mapped[int] = mapped_column(BigInteger)
    operator_points: Mapped[int] = mapped_column(BigInteger)
    redeemed_points: Mapped[int] = mapped_column(BigInteger)
    issue_price_minor: Mapped[int] = mapped_column(BigInteger)
    issue_per_points: Mapped[int] = mapped_column(BigInteger)
    redeem_price_minor: Mapped[int] = mapped_column(BigInteger)
    redeem_per_points: Mapped[int] = mapped_column(BigInteger)
    issued_amount_minor: Mapped[int] = mapped_column(BigInteger)
    redeemed_amount_minor: Mapped[int] = mapped_column(BigInteger)
    prepaid_points: Mapped[int] = mapped_column(BigInteger, default=0)
    prepaid_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(Integer)
    # The newest ledger entry this statement counted (ids sort by time): the next close reads from shortly before it.
    last_entry_id: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("merchant_id", "period_start"),
        Index("ix_statements_merchant", "merchant_id", "id"),
    )


class StatementLine(Base):
    """One ledger entry counted in a statement, split by funder; an entry is counted in one statement only."""

    __tablename__ = "statement_lines"

    entry_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"))
    kind: Mapped[str] = mapped_column(String(16))
    entry_created_at: Mapped[datetime]
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    redemption_id: Mapped[str | None] = mapped_column(String(40))
    merchant_points: Mapped[int] = mapped_column(BigInteger, default=0)
    operator_points: Mapped[int] = mapped_column(BigInteger, default=0)
    redeemed_points: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_statement_lines_statement", "statement_id", "entry_id"),)
