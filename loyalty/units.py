"""Currencies, minor units and the one rounding rule for points and money."""

from __future__ import annotations

from babel.numbers import get_currency_precision, list_currencies

from loyalty.errors import ValidationFailed

_CURRENCIES = frozenset(list_currencies())


def check_currency(code: str) -> str:
    """Return the ISO 4217 code if it is one, else raise ``ValidationFailed``."""
    if code not in _CURRENCIES:
        raise ValidationFailed(
            f"{code!r} is not an ISO 4217 currency code.",
            errors={"currency": ["Unknown currency code."]},
        )
    return code


def minor_digits(currency: str) -> int:
    """How many minor-unit digits a currency has (EUR 2, JPY 0, BHD 3)."""
    return get_currency_precision(currency)


def floor_div(numerator: int, denominator: int) -> int:
    """The only rounding used for points and money: towards minus infinity, in integers."""
    if isinstance(numerator, bool) or isinstance(denominator, bool):
        raise TypeError("booleans are not amounts")
    return numerator // denominator


def price_of_points(points: int, price_minor: int, per_points: int) -> int:
    """What ``points`` cost at ``price_minor`` per ``per_points`` points, in minor units, rounded by ``floor_div``."""
    return floor_div(points * price_minor, per_points)
