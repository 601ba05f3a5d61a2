"""What a member is shown of their own account: points by date, the reasons of their ledger entries, their data.

Reads only, in a few set-based queries per page whatever the number of
entries: names of stores, merchants and rewards are fetched for a whole page
of entries at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty.accounts.models import MemberLogin
from loyalty.audit.models import AuditEvent
from loyalty.db import isoformat_z, utcnow
from loyalty.ledger import services as ledger
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.merchants.models import Merchant, Store
from loyalty.notifications.models import Notification
from loyalty.program.services import get_program
from loyalty.purchases.models import Purchase
from loyalty.rewards.models import Redemption, Reward

EXPIRY_HORIZON = timedelta(days=90)


@dataclass(frozen=True)
class DatedPoints:
    on: date  # in the program's timezone
    points: int


@dataclass(frozen=True)
class PointsSummary:
    available: int
    pending: int
    becoming_available: list[DatedPoints]
    expiring: list[DatedPoints]  # within EXPIRY_HORIZON
    expiring_total: int


def _by_local_date(pairs, zone: ZoneInfo) -> list[DatedPoints]:
    totals: dict[date, int] = defaultdict(int)
    for moment, points in pairs:
        totals[moment.astimezone(zone).date()] += int(points)
    return [DatedPoints(on=day, points=points) for day, points in sorted(totals.items())]


def points_summary(session: Session, member: Member, *, now: datetime | None = None) -> PointsSummary:
    """Available and pending points, when the pending ones arrive, and what expires within 90 days, by date."""
    now = now or utcnow()
    balance = ledger.balance(session, member, now)
    zone = ZoneInfo(get_program(session).timezone)
    lots = session.execute(
        select(LedgerEntry.available_at, LedgerEntry.expires_at, LedgerEntry.lot_remaining).where(
            LedgerEntry.member_id == member.id,
            LedgerEntry.lot_remaining > 0,
            or_(LedgerEntry.available_at > now, LedgerEntry.expires_at <= now + EXPIRY_HORIZON),
        )
    ).all()
    arriving = [(lot.available_at, lot.lot_remaining) for lot in lots if lot.available_at and lot.available_at > now]
    expiring = [
        (lot.expires_at, lot.lot_remaining)
        for lot in lots
        if lot.expires_at is not None and now < lot.expires_at <= now + EXPIRY_HORIZON
    ]
    return PointsSummary(
        available=balance.available,
        pending=balance.pending,
        becoming_available=_by_local_date(arriving, zone),
        expiring=_by_local_date(expiring, zone),
        expiring_total=sum(points for _, points in expiring),
    )


@dataclass(frozen=True)
class Reason:
    """Why an entry is there, in facts a page words in the member's language."""

    kind: str
    store: str | None = None
    merchant: str | None = None
    rules: list[str] = field(default_factory=list)
    reward: str | None = None
    purchase_at: datetime | None = None  # of the purchase a return or claim is about
    note: str | None = None


def explain(session: Session, entries: list[LedgerEntry]) -> dict[str, Reason]:
    """The reason of each entry, by entry id (three queries for any number of entries)."""
    store_ids = {e.store_id for e in entries if e.store_id}
    merchant_ids = {e.merchant_id for e in entries if e.merchant_id}
    redemption_ids = {e.redemption_id for e in entries if e.redemption_id}
    purchase_ids = {e.purchase_id for e in entries if e.purchase_id and e.kind in ("return", "claim")}
    stores = (
        dict(session.execute(select(Store.id, Store.name).where(Store.id.in_(store_ids))).all()) if store_ids else {}
    )
    merchants = (
        dict(session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))).all())
        if merchant_ids
        else {}
    )
    rewards = (
        dict(
            session.execute(
                select(Redemption.id, Reward.name)
                .join(Reward, Reward.id == Redemption.reward_id)
                .where(Redemption.id.in_(redemption_ids))
            ).all()
        )
        if redemption_ids
        else {}
    )
    purchases = (
        dict(session.execute(select(Purchase.id, Purchase.occurred_at).where(Purchase.id.in_(purchase_ids))).all())
        if purchase_ids
        else {}
    )
    reasons = {}
    for entry in entries:
        reasons[entry.id] = Reason(
            kind=entry.kind,
            store=stores.get(entry.store_id),
            merchant=merchants.get(entry.merchant_id),
            rules=[line.get("rule_name") for line in entry.breakdown or [] if line.get("rule_name")],
            reward=rewards.get(entry.redemption_id),
            purchase_at=purchases.get(entry.purchase_id),
            note=entry.note if entry.kind == "adjust" else None,
        )
    return reasons


def merchants_in_activity(session: Session, member_id: str) -> list[tuple[str, str]]:
    """``(merchant id, name)`` of every merchant in the member's ledger, by name (for a filter)."""
    ids = (
        select(LedgerEntry.merchant_id)
        .distinct()
        .where(LedgerEntry.member_id == member_id, LedgerEntry.merchant_id.is_not(None))
    )
    return [
        (row.id, row.name)
        for row in session.execute(
            select(Merchant.id, Merchant.name).where(Merchant.id.in_(ids)).order_by(Merchant.name)
        )
    ]


def reward_names(session: Session, reward_ids: set[str]) -> dict[str, str]:
    """Reward names by id (for a page of redemptions)."""
    if not reward_ids:
        return {}
    return dict(session.execute(select(Reward.id, Reward.name).where(Reward.id.in_(reward_ids))).all())


# ---- the member's data, whole ----------------------------------------------------------------


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = isoformat_z(value) if isinstance(value, datetime) else value
    return out


def export_member_data(session: Session, member_id: str, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the program holds about the member, as plain JSON-ready data (no password hash, no secrets)."""
    member = session.get(Member, member_id)
    login = session.get(MemberLogin, member_id)
    balance = ledger.balance(session, member)
    entries = list(
        session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id))
    )
    purchases = list(session.scalars(select(Purchase).where(Purchase.member_id == member_id).order_by(Purchase.id)))
    redemptions = list(
        session.scalars(select(Redemption).where(Redemption.member_id == member_id).order_by(Redemption.id))
    )
    notifications = list(
        session.scalars(select(Notification).where(Notification.member_id == member_id).order_by(Notification.id))
    )
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "member", AuditEvent.object_id == member_id)
            .order_by(AuditEvent.id)
        )
    )
    return {
        "exported_at": isoformat_z(utcnow()),
        "member": _row(
            member,
            (
                "id",
                "card_number",
                "email",
                "phone",
                "name",
                "locale",
                "status",
                "enrolled_at",
                "tier_code",
                "lifecycle_stage",
                "marketing_opt_in",
                "birth_month",
                "referral_code",
                "purchase_count",
                "last_purchase_at",
            ),
        ),
        "balance": balance.as_dict(),
        "sign_in": _row(login, ("created_at", "password_changed_at", "last_login_at")) if login else None,
        **(extra or {}),
        "activity": [
            _row(
                e,
                (
                    "id",
                    "kind",
                    "points",
                    "balance_after",
                    "created_at",
                    "available_at",
                    "expires_at",
                    "merchant_id",
                    "store_id",
                    "purchase_id",
                    "redemption_id",
                    "breakdown",
                    "note",
                ),
            )
            for e in entries
        ],
        "purchases": [
            {
                **_row(
                    p,
                    (
                        "id",
                        "merchant_id",
                        "store_id",
                        "external_id",
                        "occurred_at",
                        "currency",
                        "total_minor",
                        "returned_minor",
                        "points_awarded",
                        "points_reversed",
                        "claimed_at",
                    ),
                ),
                "items": [
                    _row(i, ("sku", "category", "quantity", "unit_price_minor", "returned_quantity")) for i in p.items
                ],
                "returns": [
                    _row(r, ("id", "external_id", "amount_minor", "points_reversed", "created_at")) for r in p.returns
                ],
            }
            for p in purchases
        ],
        "redemptions": [
            _row(
                r,
                (
                    "id",
                    "kind",
                    "reward_id",
                    "points",
                    "value_minor",
                    "currency",
                    "code",
                    "status",
                    "created_at",
                    "expires_at",
                    "used_at",
                    "cancelled_at",
                ),
            )
            for r in redemptions
        ],
        "messages": [_row(n, ("id", "channel", "template", "status", "created_at", "sent_at")) for n in notifications],
        "account_events": [_row(e, ("id", "action", "actor_kind", "created_at", "data")) for e in events],
    }
