from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class Rule(Base):
    """An earning rule: its status and which of its versions is current.

    The rule's content lives in its versions. ``merchant_id`` null is an
    operator-wide rule; otherwise the rule applies at that merchant's stores only.
    """

    __tablename__ = "rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rul"))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A campaign's temporary rule fires only for the members in that campaign's treatment group.
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'paused')", name="status"),
        Index("ix_rules_merchant", "merchant_id", "id"),
        Index("ix_rules_status", "status", "id"),
    )


class RuleVersion(Base):
    """One version of a rule's content, kept for the record once it has been active.

    A draft is edited in place; a change to an active or paused rule makes a new
    version, so a scored purchase can always name the version that scored it.
    ``created_at`` and ``created_by_*`` say who last wrote this version's content.
    """

    __tablename__ = "rule_versions"

    rule_id: Mapped[str] = mapped_column(ForeignKey("rules.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(BigInteger)
    stacking: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    condition: Mapped[str] = mapped_column(Text)
    effect: Mapped[dict] = mapped_column(json_type())
    limits: Mapped[dict] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_by_role: Mapped[str | None] = mapped_column(String(16))
    created_by_key_id: Mapped[str | None] = mapped_column(String(40))


class RulesetState(Base):
    """The version of the set of active rules: one row, bumped by every change to that set.

    ``token`` is new at every bump, so a cached rule set is never mistaken for
    another one that reached the same number in a transaction that rolled back.
    """

    __tablename__ = "ruleset_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class RuleSimulation(Base):
    """A draft rule run against the stored purchases of a period, in the background.

    ``rule`` is the draft as checked (JSON-ready); ``merchant_id`` is its
    merchant, whose keys may read the simulation (null: the operator's staff
    only). ``done`` of ``total`` purchases are scored so far; the figures are
    set when ``status`` is ``done``.
    """

    __tablename__ = "rule_simulations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sim"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    rule: Mapped[dict] = mapped_column(json_type())
    from_at: Mapped[datetime]
    to_at: Mapped[datetime]
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases_matched: Mapped[int | None] = mapped_column(BigInteger)
    members_affected: Mapped[int | None] = mapped_column(BigInteger)
    points: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_by_role: Mapped[str | None] = mapped_column(String(16))
    created_by_key_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_rule_simulations_merchant", "merchant_id", "id"),
    )
