"""Reading stored purchases in bulk: a period of them, in the order they happened, as baskets to score again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from loyalty.members.models import Member
from loyalty.merchants.models import Store
from loyalty.pagination import Page, decode_cursor, encode_cursor, paginate
from loyalty.purchases.models import Purchase, PurchaseItem


@dataclass(frozen=True)
class StoredMember:
    """What rules read about the member, as far as the stored data tells it at the purchase's time."""

    tier_code: str | None
    purchase_count: int
    enrolled_at: datetime
    last_purchase_at: datetime | None
    lifecycle_stage: str
    birth_month: int | None


@dataclass(frozen=True)
class StoredStore:
    id: str
    merchant_id: str
    timezone: str


@dataclass(frozen=True)
class StoredBasket:
    """A stored purchase as it was sold, with what its facts are built from.

    ``member`` is None for a purchase made without the card, claimed later or
    not: the till scored it anonymously. ``member_id`` is whoever has its points.
    """

    id: str
    occurred_at: datetime
    member_id: str | None
    member: StoredMember | None
    store: StoredStore
    currency: str
    total_minor: int
    items: list[dict[str, Any]]


def _in_period(start: datetime, end: datetime, merchant_id: str | None) -> list:
    conditions = [Purchase.occurred_at >= start, Purchase.occurred_at < end]
    if merchant_id is not None:
        conditions.append(Purchase.merchant_id == merchant_id)
    return conditions


def count_purchases(session: Session, *, start: datetime, end: datetime, merchant_id: str | None = None) -> int:
    """How many purchases happened in ``[start, end)``, at one merchant's stores or at all."""
    if start >= end:
        return 0
    return int(session.scalar(select(func.count()).select_from(Purchase).where(*_in_period(start, end, merchant_id))))


def iter_baskets(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    merchant_id: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int,
    partition: int = 500,
) -> Iterator[list[StoredBasket]]:
    """Up to ``limit`` purchases of ``[start, end)`` after ``after`` (occurred_at, id), oldest first.

    Rows are streamed (``yield_per``) and handed out ``partition`` at a time,
    each partition with its items, so memory stays bounded however long the
    period. The member's purchases before each one are counted in the same
    query, from the stored purchases.
    """
    earlier = aliased(Purchase, name="earlier")
    before = [earlier.member_id == Purchase.member_id, earlier.occurred_at < Purchase.occurred_at]
    query = (
        select(
            Purchase.id,
            Purchase.occurred_at,
            Purchase.member_id,
            Purchase.claimed_at,
            Purchase.currency,
            Purchase.total_minor,
            Store.id.label("store_id"),
            Store.merchant_id,
            Store.timezone,
            Member.tier_code,
            Member.enrolled_at,
            Member.lifecycle_stage,
            Member.birth_month,
            select(func.count()).where(*before).scalar_subquery().label("purchases_before"),
            select(func.max(earlier.occurred_at)).where(*before).scalar_subquery().label("last_purchase_at"),
        )
        .join(Store, Store.id == Purchase.store_id)
        .outerjoin(Member, Member.id == Purchase.member_id)
        .where(*_in_period(start, end, merchant_id))
        .order_by(Purchase.occurred_at, Purchase.id)
        .limit(limit)
    )
    if after is not None:
        at, purchase_id = after
        query = query.where(or_(Purchase.occurred_at > at, and_(Purchase.occurred_at == at, Purchase.id > purchase_id)))
    result = session.execute(query.execution_options(yield_per=partition))
    for rows in result.partitions():
        yield _baskets(session, rows)


def _baskets(session: Session, rows) -> list[StoredBasket]:
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in session.execute(
        select(
            PurchaseItem.purchase_id,
            PurchaseItem.sku,
            PurchaseItem.category,
            PurchaseItem.quantity,
            PurchaseItem.unit_price_minor,
        )
        .where(PurchaseItem.purchase_id.in_([row.id for row in rows]))
        .order_by(PurchaseItem.purchase_id, PurchaseItem.line)
    ):
        items[item.purchase_id].append(
            {
                "sku": item.sku,
                "category": item.category,
                "quantity": item.quantity,
                "unit_price_minor": item.unit_price_minor,
            }
        )
    baskets = []
    for row in rows:
        member = None
        if row.member_id is not None and row.claimed_at is None:
            member = StoredMember(
                tier_code=row.tier_code,
                purchase_count=int(row.purchases_before),
                enrolled_at=row.enrolled_at,
                last_purchase_at=row.last_purchase_at,
                lifecycle_stage=row.lifecycle_stage,
                birth_month=row.birth_month,
            )
        baskets.append(
            StoredBasket(
                id=row.id,
                occurred_at=row.occurred_at,
                member_id=row.member_id,
                member=member,
                store=StoredStore(id=row.store_id, merchant_id=row.merchant_id, timezone=row.timezone),
                currency=row.currency,
                total_minor=row.total_minor,
                items=items.get(row.id, []),
            )
        )
    return baskets


# ---- a merchant's own figures (the staff console) ----------------------------------------------


def merchant_purchases(
    session: Session, *, merchant_id: str, limit: int, cursor: str | None, search: str | None = None
) -> Page[Purchase]:
    """A merchant's purchases, newest first; ``search`` matches an external id, a purchase id or a member id."""
    query = select(Purchase).where(Purchase.merchant_id == merchant_id)
    if search:
        query = query.where(or_(Purchase.external_id == search, Purchase.id == search, Purchase.member_id == search))
    return paginate(session, query, Purchase.id, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class MemberReached:
    member_id: str
    purchases: int
    total_minor: int
    points: int
    last_purchase_at: datetime


def members_reached(
    session: Session, *, merchant_id: str, limit: int, cursor: str | None
) -> tuple[int, Page[MemberReached]]:
    """How many members have bought at the merchant, and a page of them (by member id, newest first)."""
    count = session.scalar(
        select(func.count(func.distinct(Purchase.member_id))).where(
            Purchase.merchant_id == merchant_id, Purchase.member_id.is_not(None)
        )
    )
    query = (
        select(
            Purchase.member_id,
            func.count(),
            func.coalesce(func.sum(Purchase.total_minor - Purchase.returned_minor), 0),
            func.coalesce(func.sum(Purchase.points_awarded - Purchase.points_reversed), 0),
            func.max(Purchase.occurred_at),
        )
        .where(Purchase.merchant_id == merchant_id, Purchase.member_id.is_not(None))
        .group_by(Purchase.member_id)
    )
    if cursor:
        query = query.where(Purchase.member_id < decode_cursor(cursor))
    rows = session.execute(query.order_by(Purchase.member_id.desc()).limit(limit + 1)).all()
    items = [MemberReached(r[0], int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].member_id) if len(rows) > limit and items else None
    return int(count or 0), Page(items=items, next_cursor=next_cursor)


def purchase_id_for_external_id(session: Session, *, merchant_id: str, external_id: str) -> str | None:
    """The id of the merchant's purchase with that till ``external_id``, or None."""
    return session.scalar(
        select(Purchase.id).where(Purchase.merchant_id == merchant_id, Purchase.external_id == external_id)
    )
