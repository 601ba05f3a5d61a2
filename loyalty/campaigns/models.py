from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "completed", "cancelled")
CHANNELS = ("email", "sms", "webhook")


class Campaign(Base):
    """A retention campaign.

    ``audience`` is the filter (stage, segment, tier, value band, days since last
    purchase, merchants visited, consent); ``offer`` what treatment members get (a
    temporary earning rule, bonus points or a reward); ``message`` the text sent on
    each of ``channels``. Members are drawn when it launches: ``control_share_pct``
    of them, chosen by a stable hash, are held out and never receive anything.
    ``budget_points`` caps the points the offer may cost, ``points_spent`` is what it
    has cost so far. Results are measured over ``measure_days`` from ``starts_at``.
    """

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cmp"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    audience: Mapped[dict] = mapped_column(json_type(), default=dict)
    offer: Mapped[dict] = mapped_column(json_type(), default=dict)
    channels: Mapped[list] = mapped_column(json_type(), default=list)
    message: Mapped[dict] = mapped_column(json_type(), default=dict)
    control_share_pct: Mapped[int] = mapped_column(SmallInteger, default=10)
    budget_points: Mapped[int | None] = mapped_column(BigInteger)
    points_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    measure_days: Mapped[int] = mapped_column(Integer, default=30)
    # The temporary earning rule made for an offer of type "rule" (rules.campaign_id points back).
    rule_id: Mapped[str | None] = mapped_column(String(40))
    audience_size: Mapped[int] = mapped_column(Integer, default=0)
    treatment_size: Mapped[int] = mapped_column(Integer, default=0)
    control_size: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[dict] = mapped_column(json_type(), default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'scheduled', 'running', 'completed', 'cancelled')", name="status"),
        CheckConstraint("control_share_pct BETWEEN 0 AND 90", name="control_share"),
        CheckConstraint("budget_points IS NULL OR points_spent <= budget_points", name="budget_never_overspent"),
        Index("ix_campaigns_status", "status", "id"),
    )


class CampaignMember(Base):
    """A member drawn into a campaign, in the treatment or the control group, and what they were given."""

    __tablename__ = "campaign_members"

    # No foreign keys (migration 0015): the rows are only ever written by the draw's INSERT ... SELECT
    # from members, for its own campaign, and members are never deleted (erasure keeps the row). Checking
    # each of a million rows, which also locks every member row drawn, took three quarters of the draw.
    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group: Mapped[str] = mapped_column(String(16))
    # selected -> offered (and contacted on zero or more channels); a control member stays "held_out".
    status: Mapped[str] = mapped_column(String(24), default="selected")
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None]
    points_awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    redemption_id: Mapped[str | None] = mapped_column(String(40))

    # The primary key (campaign_id, member_id) is the only index (migration 0015): batches walk it in
    # member order from where the last one stopped, and a member's treatment campaigns are found by it
    # with the campaign ids. Two more indexes nearly tripled the time to draw a million members.
    __table_args__ = (CheckConstraint("\"group\" IN ('treatment', 'control')", name="group"),)


class Contact(Base):
    """One marketing message sent (or queued) to a member: what the contact-frequency cap counts."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    contacted_at: Mapped[datetime] = mapped_column(default=utcnow)
    notification_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_contacts_member", "member_id", "contacted_at"),
        Index("ix_contacts_campaign", "campaign_id", "id"),
    )
