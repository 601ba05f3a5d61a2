"""A member's 360-degree timeline: everything about them, newest first, across every source.

A page is read with one bounded query per kind asked for (``sources.SOURCES``):
the rows after the cursor in that kind's time order, ``limit + 1`` of them,
merged here. The order is total and the same in every query: newest ``at``
first, then kind (descending), then the row's id (descending). The cursor is
that key of the last item given, so pages neither skip nor repeat an item,
however the kinds interleave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from loyalty.errors import ValidationFailed
from loyalty.keyset import decode_key, encode_key
from loyalty.pagination import Page
from loyalty.tiers.services import list_tiers
from loyalty.timeline.sources import KINDS as KINDS
from loyalty.timeline.sources import SOURCES, Source, TimelineItem


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("The cursor is not one this service gave out.", errors={"cursor": ["Invalid cursor."]})


def _decode(cursor: str) -> tuple[datetime, str, str]:
    at, kind, row_id = decode_key(cursor, (datetime, str, str))
    if kind not in SOURCES:
        raise _invalid_cursor()
    return at, kind, row_id


def _after(source: Source, cursor: tuple[datetime, str, str]):
    """The rows of ``source`` that come after the cursor in (at, kind, id) descending order."""
    at, kind, row_id = cursor
    if source.kind < kind:
        return source.at <= at
    if source.kind > kind:
        return source.at < at
    if source.int_id:
        if not row_id.isdigit():
            raise _invalid_cursor()
        row_id = int(row_id)
    return or_(source.at < at, and_(source.at == at, source.id < row_id))


def check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """The kinds asked for, in their canonical order; every kind when none are named."""
    if not kinds:
        return KINDS
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValidationFailed(
            f"Unknown timeline kinds: {', '.join(unknown)}.", errors={"kinds": [f"One or more of {', '.join(KINDS)}."]}
        )
    return tuple(kind for kind in KINDS if kind in set(kinds))


def member_timeline(
    session: Session,
    *,
    member_id: str,
    limit: int,
    cursor: str | None = None,
    kinds: Sequence[str] | None = None,
) -> Page[TimelineItem]:
    """One page of the member's timeline, newest first, of the kinds asked for (all by default)."""
    wanted = check_kinds(kinds)
    position = _decode(cursor) if cursor else None
    tier_names = {tier.code: tier.name for tier in list_tiers(session)} if "tier_change" in wanted else {}
    items: list[TimelineItem] = []
    for kind in wanted:
        source = SOURCES[kind]
        query = source.query(member_id)
        if position is not None:
            query = query.where(_after(source, position))
        query = query.order_by(source.at.desc(), source.id.desc()).limit(limit + 1)
        rows = session.execute(query) if source.joined else session.scalars(query)
        items.extend(source.item(row, tier_names) for row in rows)
    items.sort(key=lambda item: item.key, reverse=True)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_key(items[-1].at, items[-1].kind, str(items[-1].row_id)) if more and items else None
    return Page(items=items, next_cursor=next_cursor)
