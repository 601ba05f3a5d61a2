"""What text the service keeps: the one rule on control characters, and the shape of an id."""

from __future__ import annotations

from typing import Any

LINE_BREAKS = frozenset("\t\n\r")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds control characters or lone surrogates.

    PostgreSQL cannot store a NUL at all, and a lone surrogate is not UTF-8; tab
    and line breaks are allowed in multi-line text only.
    """
    for char in text:
        code = ord(char)
        if (code < 32 or code == 127) and not (multiline and char in LINE_BREAKS):
            return True
        if 0xD800 <= code <= 0xDFFF:
            return True
    return False


def usable_id(value: Any) -> bool:
    """Whether ``value`` could be one of our ids; anything else is simply not found."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()
