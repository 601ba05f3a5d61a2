"""Vendors' amounts to minor units: exact decimals, the currency's own number of minor digits, never a float."""

from decimal import Decimal

import pytest

from loyalty.errors import ValidationFailed
from pos_plugins.common.money import AmountError, minor_int, to_minor, whole_quantity


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("598.94", "USD", 59894),
        ("0.01", "USD", 1),
        ("1200", "JPY", 1200),
        ("1200.00", "JPY", 1200),
        ("1.250", "KWD", 1250),
        ("0.125", "BHD", 125),
        ("-5.30", "EUR", -530),
        (Decimal("9.88"), "EUR", 988),
        (7, "JPY", 7),
    ],
)
def test_an_exact_amount_becomes_minor_units_of_its_currency(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("0.005", "USD"),
        ("1200.5", "JPY"),
        ("1.2345", "KWD"),
        ("12,50", "EUR"),
        ("NaN", "EUR"),
        ("", "EUR"),
        (None, "EUR"),
    ],
)
def test_an_amount_finer_than_the_currency_or_not_a_number_is_refused(amount, currency):
    with pytest.raises(AmountError):
        to_minor(amount, currency)


def test_a_float_is_refused_even_when_it_looks_exact():
    with pytest.raises(AmountError):
        to_minor(12.5, "EUR")
    with pytest.raises(AmountError):
        to_minor(True, "EUR")


def test_an_unknown_currency_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        to_minor("1.00", "XYZ")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("10.000000000000002"), "EUR", 1000),
        (Decimal("4.3199999999999994"), "EUR", 432),
        (Decimal("10.005"), "USD", 1001),
        (Decimal("10.004"), "USD", 1000),
        (Decimal("449.5"), "JPY", 450),
        (Decimal("1.3755"), "BHD", 1376),
    ],
)
def test_an_inexact_amount_is_rounded_half_up_to_the_minor_unit_when_asked(amount, currency, minor):
    assert to_minor(amount, currency, exact=False) == minor


def test_amounts_already_in_minor_units_must_be_integers():
    assert minor_int(2475) == 2475
    for bad in ("2475", 24.75, True, None):
        with pytest.raises(AmountError):
            minor_int(bad)


@pytest.mark.parametrize(
    ("quantity", "whole"), [("2", 2), ("2.000", 2), (Decimal("3.0"), 3), ("0.5", None), ("x", None)]
)
def test_a_quantity_is_whole_or_not(quantity, whole):
    assert whole_quantity(quantity) == whole
