"""Cursors over several ordering columns (a time and an id, a priority...), opaque to clients.

``loyalty.pagination`` pages by one time-ordered id; some lists are ordered by
other columns (a member's timeline by when things happened, the case queue by
priority then age). Their cursor is the ordering key of the last item given,
as JSON in URL-safe base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from loyalty.errors import ValidationFailed
from loyalty.text import usable_id

_MAX_CURSOR = 600


def _invalid() -> ValidationFailed:
    return ValidationFailed("The cursor is not one this service gave out.", errors={"cursor": ["Invalid cursor."]})


def encode_key(*values: Any) -> str:
    """A cursor for an ordering key of strings, ints and aware datetimes."""
    plain = [value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value for value in values]
    text = json.dumps(plain, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_key(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """The ordering key in a cursor, each value checked against ``kinds`` (``datetime``, ``str``, ``int``)."""
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
        raise _invalid()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode("ascii"))
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid() from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise _invalid()
    key: list[Any] = []
    for value, kind in zip(values, kinds, strict=True):
        if kind is datetime:
            try:
                moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise _invalid()
            key.append(moment.astimezone(UTC))
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
                raise _invalid()
            key.append(value)
        else:
            if not usable_id(value):
                raise _invalid()
            key.append(value)
    return key
