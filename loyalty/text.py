"""What text the service keeps: the one rule on control characters, and the shape of an id."""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL and lone surrogates; the multi-line form allows tab and line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds control characters or lone surrogates.

    PostgreSQL cannot store a NUL at all, and a lone surrogate is not UTF-8; tab
    and line breaks are allowed in multi-line text only.
    """
    return (_CONTROL_MULTILINE if multiline else _CONTROL).search(text) is not None


def usable_id(value: Any) -> bool:
    """Whether ``value`` could be one of our ids; anything else is simply not found."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()
