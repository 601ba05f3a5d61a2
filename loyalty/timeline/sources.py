"""Where a member's timeline items come from: one query and one item builder per kind (``SOURCES``).

Each kind of item comes from one table (see ``KINDS``). Tier changes are read
from the audit trail (``member.tier_rise`` and ``member.tier_fall``, written in
the transaction of every rise at a purchase or claim and of every change at
review). Lifecycle stage changes come from ``lifecycle_stage_changes``;
campaign messages from ``contacts``. ``queries.member_timeline`` pages them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from loyalty.analytics.models import LifecycleStageChange
from loyalty.audit.models import AuditEvent
from loyalty.campaigns.models import Campaign, Contact
from loyalty.cases.models import ServiceCase, ServiceNote
from loyalty.ledger.models import LedgerEntry
from loyalty.merchants.models import Merchant, Store
from loyalty.purchases.models import Purchase
from loyalty.rewards.models import Redemption, Reward
from loyalty.units import minor_digits

KINDS = ("purchase", "points", "redemption", "tier_change", "stage_change", "contact", "claim", "case", "note")
TIER_ACTIONS = ("member.tier_rise", "member.tier_fall")

_ID_KEYS = ("purchase_id", "merchant_id", "store_id", "entry_id", "redemption_id", "case_id", "campaign_id")


@dataclass
class TimelineItem:
    """One thing that happened to a member."""

    kind: str
    row_id: str | int
    at: datetime
    title: str
    detail: dict[str, Any]
    ids: dict[str, str | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.row_id}"

    @property
    def key(self) -> tuple[datetime, str, str | int]:
        return (self.at, self.kind, self.row_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at,
            "title": self.title,
            "detail": self.detail,
            **{name: self.ids.get(name) for name in _ID_KEYS},
        }


def _money(minor: int, currency: str) -> str:
    digits = minor_digits(currency)
    sign, value = ("-" if minor < 0 else ""), abs(int(minor))
    if digits == 0:
        return f"{sign}{value} {currency}"
    whole, part = divmod(value, 10**digits)
    return f"{sign}{whole}.{part:0{digits}d} {currency}"


def _at_merchant(merchant: str | None, store: str | None) -> str:
    if merchant and store:
        return f" at {merchant} ({store})"
    return f" at {merchant}" if merchant else ""


@dataclass(frozen=True)
class Source:
    """A kind of item: its table's time and id columns, its query for one member, and its item builder."""

    kind: str
    at: Any  # the column of when it happened
    id: Any  # the row id column, the tie-break
    int_id: bool
    query: Callable[[str], Select]
    item: Callable[[Any, dict[str, str]], TimelineItem]
    joined: bool = True  # the query selects the row with names joined to it (else the row alone)


# ---- the sources --------------------------------------------------------------------------------


def _purchases(member_id: str) -> Select:
    return (
        select(Purchase, Store.name.label("store_name"), Merchant.name.label("merchant_name"))
        .outerjoin(Store, Store.id == Purchase.store_id)
        .outerjoin(Merchant, Merchant.id == Purchase.merchant_id)
        .where(Purchase.member_id == member_id)
    )


def _purchase_item(row, _tiers) -> TimelineItem:
    p = row.Purchase
    points = p.points_awarded - p.points_reversed
    return TimelineItem(
        kind="purchase",
        row_id=p.id,
        at=p.occurred_at,
        title=f"Purchase{_at_merchant(row.merchant_name, row.store_name)}: {_money(p.total_minor, p.currency)}, "
        f"{points} points",
        detail={
            "external_id": p.external_id,
            "merchant_name": row.merchant_name,
            "store_name": row.store_name,
            "total_minor": p.total_minor,
            "returned_minor": p.returned_minor,
            "currency": p.currency,
            "points_awarded": p.points_awarded,
            "points_reversed": p.points_reversed,
            "claimed": p.claimed_at is not None,
        },
        ids={"purchase_id": p.id, "merchant_id": p.merchant_id, "store_id": p.store_id},
    )


def _claims(member_id: str) -> Select:
    return _purchases(member_id).where(Purchase.claimed_at.is_not(None))


def _claim_item(row, _tiers) -> TimelineItem:
    p = row.Purchase
    return TimelineItem(
        kind="claim",
        row_id=p.id,
        at=p.claimed_at,
        title=f"Claimed receipt {p.external_id}{_at_merchant(row.merchant_name, row.store_name)}",
        detail={
            "external_id": p.external_id,
            "merchant_name": row.merchant_name,
            "store_name": row.store_name,
            "points": p.points_awarded - p.points_reversed,
            "occurred_at": p.occurred_at,
        },
        ids={"purchase_id": p.id, "merchant_id": p.merchant_id, "store_id": p.store_id},
    )


def _entries(member_id: str) -> Select:
    return (
        select(LedgerEntry, Store.name.label("store_name"), Merchant.name.label("merchant_name"))
        .outerjoin(Store, Store.id == LedgerEntry.store_id)
        .outerjoin(Merchant, Merchant.id == LedgerEntry.merchant_id)
        .where(LedgerEntry.member_id == member_id)
    )


_ENTRY_TITLES = {
    "earn": "Earned {points} points",
    "return": "{points} points taken back for a return",
    "redeem": "Spent {points} points",
    "redeem_cancel": "{points} points given back (redemption cancelled)",
    "expire": "{points} points expired",
    "adjust": "Points adjusted by {points}",
    "claim": "Claimed {points} points",
}


def _entry_item(row, _tiers) -> TimelineItem:
    e = row.LedgerEntry
    shown = f"{e.points:+d}" if e.kind == "adjust" else str(abs(e.points))
    title = _ENTRY_TITLES.get(e.kind, "{points} points").format(points=shown)
    return TimelineItem(
        kind="points",
        row_id=e.id,
        at=e.created_at,
        title=title + _at_merchant(row.merchant_name, row.store_name) + (f": {e.note}" if e.note else ""),
        detail={
            "entry_kind": e.kind,
            "points": e.points,
            "balance_after": e.balance_after,
            "available_at": e.available_at,
            "expires_at": e.expires_at,
            "note": e.note,
            "breakdown": e.breakdown or [],
            "merchant_name": row.merchant_name,
            "store_name": row.store_name,
            "actor_name": e.actor_name,
        },
        ids={
            "entry_id": e.id,
            "purchase_id": e.purchase_id,
            "merchant_id": e.merchant_id,
            "store_id": e.store_id,
            "redemption_id": e.redemption_id,
        },
    )


def _redemptions(member_id: str) -> Select:
    return (
        select(Redemption, Reward.name.label("reward_name"))
        .outerjoin(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.member_id == member_id)
    )


def _redemption_item(row, _tiers) -> TimelineItem:
    r = row.Redemption
    if r.reward_id is not None:
        title = f"Redeemed {row.reward_name or 'a reward'} for {r.points} points"
    elif r.value_minor is not None and r.currency:
        title = f"Paid {_money(r.value_minor, r.currency)} with {r.points} points"
    else:
        title = f"Redeemed {r.points} points"
    return TimelineItem(
        kind="redemption",
        row_id=r.id,
        at=r.created_at,
        title=f"{title} ({r.status})",
        detail={
            "redemption_kind": r.kind,
            "status": r.status,
            "points": r.points,
            "reward_id": r.reward_id,
            "reward_name": row.reward_name,
            "value_minor": r.value_minor,
            "currency": r.currency,
            "used_at": r.used_at,
            "cancelled_at": r.cancelled_at,
        },
        ids={"redemption_id": r.id, "merchant_id": r.merchant_id or r.used_merchant_id, "store_id": r.store_id},
    )


def _tier_changes(member_id: str) -> Select:
    return select(AuditEvent).where(
        AuditEvent.object_type == "member", AuditEvent.object_id == member_id, AuditEvent.action.in_(TIER_ACTIONS)
    )


def _tier_item(event: AuditEvent, tiers: dict[str, str]) -> TimelineItem:
    data = event.data or {}
    old, new = data.get("from"), data.get("to")
    direction = "up" if event.action == "member.tier_rise" else "down"

    def name(code):
        return tiers.get(code, code) if code else "no tier"

    return TimelineItem(
        kind="tier_change",
        row_id=event.id,
        at=event.created_at,
        title=f"Tier {'rose' if direction == 'up' else 'fell'} from {name(old)} to {name(new)}",
        detail={
            "from_tier": old,
            "to_tier": new,
            "direction": direction,
            "qualifying_points": data.get("qualifying_points"),
            "at_review": "review_at" in data,
        },
    )


def _stage_changes(member_id: str) -> Select:
    return select(LifecycleStageChange).where(LifecycleStageChange.member_id == member_id)


def _stage_item(change: LifecycleStageChange, _tiers) -> TimelineItem:
    before = (change.from_stage or "none").replace("_", " ")
    return TimelineItem(
        kind="stage_change",
        row_id=change.id,
        at=change.changed_at,
        title=f"Lifecycle stage: {before} → {change.to_stage.replace('_', ' ')}",
        detail={"from_stage": change.from_stage, "to_stage": change.to_stage, "run_id": change.run_id},
    )


def _contacts(member_id: str) -> Select:
    return (
        select(Contact, Campaign.name.label("campaign_name"))
        .outerjoin(Campaign, Campaign.id == Contact.campaign_id)
        .where(Contact.member_id == member_id)
    )


def _contact_item(row, _tiers) -> TimelineItem:
    c = row.Contact
    about = row.campaign_name or (f"campaign {c.campaign_id}" if c.campaign_id else "a message")
    return TimelineItem(
        kind="contact",
        row_id=c.id,
        at=c.contacted_at,
        title=f"Contacted by {c.channel}: {about}",
        detail={"channel": c.channel, "campaign_name": row.campaign_name, "notification_id": c.notification_id},
        ids={"campaign_id": c.campaign_id},
    )


def _cases(member_id: str) -> Select:
    return select(ServiceCase).where(ServiceCase.member_id == member_id)


def _case_item(case: ServiceCase, _tiers) -> TimelineItem:
    return TimelineItem(
        kind="case",
        row_id=case.id,
        at=case.opened_at,
        title=f"Case opened ({case.priority}, now {case.status.replace('_', ' ')}): {case.subject}",
        detail={
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "source": case.source,
            "receipt_ref": case.receipt_ref,
            "points_claimed": case.points_claimed,
            "points_granted": case.points_granted,
            "resolution": case.resolution,
            "resolved_at": case.resolved_at,
            "opened_by_name": case.opened_by_name,
        },
        ids={
            "case_id": case.id,
            "purchase_id": case.purchase_id,
            "merchant_id": case.merchant_id,
            "store_id": case.store_id,
        },
    )


def _notes(member_id: str) -> Select:
    return select(ServiceNote).where(ServiceNote.member_id == member_id)


def _note_item(note: ServiceNote, _tiers) -> TimelineItem:
    excerpt = note.body if len(note.body) <= 120 else note.body[:119] + "…"
    return TimelineItem(
        kind="note",
        row_id=note.id,
        at=note.created_at,
        title=f"Note by {note.author_name}: {excerpt}",
        detail={"body": note.body, "author_kind": note.author_kind, "author_name": note.author_name},
        ids={"case_id": note.case_id},
    )


SOURCES: dict[str, Source] = {
    s.kind: s
    for s in (
        Source("purchase", Purchase.occurred_at, Purchase.id, False, _purchases, _purchase_item),
        Source("points", LedgerEntry.created_at, LedgerEntry.id, False, _entries, _entry_item),
        Source("redemption", Redemption.created_at, Redemption.id, False, _redemptions, _redemption_item),
        Source("tier_change", AuditEvent.created_at, AuditEvent.id, False, _tier_changes, _tier_item, joined=False),
        Source(
            "stage_change",
            LifecycleStageChange.changed_at,
            LifecycleStageChange.id,
            True,
            _stage_changes,
            _stage_item,
            joined=False,
        ),
        Source("contact", Contact.contacted_at, Contact.id, True, _contacts, _contact_item),
        Source("claim", Purchase.claimed_at, Purchase.id, False, _claims, _claim_item),
        Source("case", ServiceCase.opened_at, ServiceCase.id, False, _cases, _case_item, joined=False),
        Source("note", ServiceNote.created_at, ServiceNote.id, True, _notes, _note_item, joined=False),
    )
}
assert tuple(SOURCES) == KINDS
