"""Cursor pagination over time-ordered ids, newest first."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from loyalty.errors import ValidationFailed
from loyalty.text import usable_id

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.urlsafe_b64decode(padded.encode()).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        last_id = ""
    # Anything but an id (a NUL byte would even break PostgreSQL) was not given out here.
    if not usable_id(last_id):
        raise ValidationFailed("The cursor is not one this service gave out.", errors={"cursor": ["Invalid cursor."]})
    return last_id


def paginate(
    session: Session,
    query: Select,
    id_column: InstrumentedAttribute,
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of ``query`` ordered by ``id_column`` descending."""
    if cursor:
        query = query.where(id_column < decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], id_column.key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
