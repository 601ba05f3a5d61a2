"""Card numbers: 16 digits, a program prefix, random digits and a Luhn check digit.

The random part comes from ``secrets``, so a card number cannot be guessed
from another one; the Luhn digit (python-stdnum) catches a mistyped digit at
the till before any database look-up.
"""

from __future__ import annotations

import secrets

from stdnum import luhn

LENGTH = 16
DEFAULT_PREFIX = "6042"

_prefix = DEFAULT_PREFIX


def configure(prefix: str | None) -> None:
    """Set the program's card prefix (1 to 6 digits)."""
    global _prefix
    prefix = prefix or DEFAULT_PREFIX
    if not (prefix.isdigit() and 1 <= len(prefix) <= 6):
        raise ValueError("CARD_PREFIX must be 1 to 6 digits")
    _prefix = prefix


def new_card_number() -> str:
    """A fresh, unguessable card number (uniqueness is checked by the caller)."""
    body_length = LENGTH - len(_prefix) - 1
    body = _prefix + "".join(str(secrets.randbelow(10)) for _ in range(body_length))
    return body + luhn.calc_check_digit(body)


def is_valid_card_number(text: str) -> bool:
    """16 ASCII digits with a correct Luhn check digit."""
    return len(text) == LENGTH and text.isascii() and text.isdigit() and luhn.is_valid(text)


def normalise_card_number(text: str) -> str:
    """Drop the spaces and dashes people type or print between digit groups."""
    return "".join(ch for ch in text if ch not in " -")
