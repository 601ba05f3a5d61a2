"""Vendors' amounts as integer minor units of a currency, never through a float.

Shopify writes money as decimal strings ("12.50"), Odoo's JSON as numbers;
both are read as ``Decimal`` (payloads are parsed with ``parse_float=Decimal``).
How many minor digits a currency has comes from the CLDR data Babel ships
(JPY 0, EUR 2, KWD 3).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from loyalty.units import check_currency, minor_digits


class AmountError(ValueError):
    """An amount that is not a number of the currency's minor units."""


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool | float):
        # A float has already lost the exact amount; payloads are parsed so that this never happens.
        raise AmountError(f"{value!r} is not an exact amount.")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError(f"{value!r} is not an amount.") from None
    else:
        raise AmountError(f"{value!r} is not an amount.")
    if not number.is_finite():
        raise AmountError(f"{value!r} is not an amount.")
    return number


def to_minor(value: object, currency: str, *, exact: bool = True) -> int:
    """``"12.50"`` EUR -> 1250, ``"1200"`` JPY -> 1200, ``"1.250"`` KWD -> 1250.

    With ``exact`` (decimal strings from Shopify), an amount finer than the
    currency's minor unit is an error. Without it (Odoo's binary floats written
    as JSON numbers, such as ``10.000000000000002``), the amount is rounded half
    up to the minor unit, as Odoo rounds its own amounts.
    """
    check_currency(currency)
    number = _decimal(value)
    scaled = number.scaleb(minor_digits(currency))
    whole = scaled.to_integral_value(rounding=ROUND_HALF_UP)
    if exact and whole != scaled:
        raise AmountError(f"{value!r} has more decimals than {currency} has minor units.")
    return int(whole)


def minor_int(value: object) -> int:
    """An amount already in minor units (Square's ``Money.amount``): an integer and nothing else."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountError(f"{value!r} is not an integer amount in minor units.")
    return value


def whole_quantity(value: object) -> int | None:
    """A quantity as a whole number of units, or None when it is fractional (sold by weight or length)."""
    try:
        number = _decimal(value)
    except AmountError:
        return None
    if number != number.to_integral_value():
        return None
    return int(number)


def decimal_of(value: object) -> Decimal:
    """A payload's number or numeric string as an exact decimal (``AmountError`` otherwise)."""
    return _decimal(value)
