"""Reading an end-of-day purchases file: amounts in the currency's minor units, local times, grouping."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from loyalty.imports.csvfile import FileError, FileFormat, RowError, amount_minor, count_rows, read_groups

LISBON_EUR = FileFormat(minor_digits=2, timezone="Europe/Lisbon")


def groups(text: str, file_format: FileFormat = LISBON_EUR):
    return list(read_groups(io.StringIO(text), file_format))


@pytest.mark.parametrize(
    ("text", "digits", "minor"),
    [("4.50", 2, 450), ("4.5", 2, 450), ("4", 2, 400), ("0.01", 2, 1), ("1200", 0, 1200), ("1.234", 3, 1234)],
)
def test_amounts_are_read_exactly_in_minor_units(text, digits, minor):
    assert amount_minor(text, digits, name="unit_price", line=2) == minor


@pytest.mark.parametrize("text", ["4.505", "-1", "1e3", "4,50", " ", "0x10", "\uff11\uff12"])
def test_amounts_that_are_not_plain_decimals_of_the_currency_are_refused(text):
    with pytest.raises(RowError):
        amount_minor(text, 2, name="unit_price", line=2)


def test_a_yen_price_has_no_decimals():
    (group,) = groups(
        "external_id,occurred_at,sku,quantity,unit_price\nR-1,2026-11-22 10:00,TEA,2,300.5\n",
        FileFormat(0, "Asia/Tokyo"),
    )
    assert "more than the currency's 0 decimal places" in str(group.error)


def test_a_time_without_an_offset_is_the_stores_local_time_summer_or_winter():
    summer, winter, explicit = groups(
        "external_id,occurred_at,sku,quantity,unit_price\n"
        "S,2026-07-01 10:00,TEA,1,1\n"
        "W,2026-12-01T10:00,TEA,1,1\n"
        "E,2026-07-01T10:00:00Z,TEA,1,1\n"
    )
    assert summer.occurred_at.astimezone(UTC) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert winter.occurred_at.astimezone(UTC) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert explicit.occurred_at.astimezone(UTC) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_consecutive_rows_of_one_external_id_are_one_purchase_and_a_later_repeat_is_refused():
    first, other, repeat = groups(
        "external_id,occurred_at,sku,quantity,unit_price,discount\n"
        "R-1,2026-11-22 10:00,TEA,2,1.50,0.50\n"
        "R-1,2026-11-22 10:00,CAKE,1,3.00,\n"
        "R-2,2026-11-22 10:05,TEA,1,1.50,\n"
        "R-1,2026-11-22 10:00,TEA,1,1.50,\n"
    )
    assert (first.first_line, first.last_line, first.rows, first.error) == (2, 3, 2, None)
    assert first.total_minor == 2 * 150 - 50 + 300
    assert [item["sku"] for item in first.items] == ["TEA", "CAKE"]
    assert other.error is None
    assert "already appeared at line 2" in str(repeat.error)


def test_the_fingerprint_is_the_same_for_the_same_content_and_differs_otherwise():
    one, same, changed = (
        groups(f"external_id,occurred_at,sku,quantity,unit_price\nR-1,{when},TEA,{quantity},1.50\n")[0]
        for when, quantity in (("2026-11-22 10:00", 1), ("2026-11-22T10:00:00+00:00", 1), ("2026-11-22 10:00", 2))
    )
    body = {"store_id": "sto_1", "currency": "EUR"}
    assert one.fingerprint_body(**body) == same.fingerprint_body(**body)
    assert one.fingerprint_body(**body) != changed.fingerprint_body(**body)


def test_a_byte_order_mark_and_blank_lines_are_not_rows():
    text = "external_id,occurred_at,sku,quantity,unit_price\n\nR-1,2026-11-22 10:00,TEA,1,1\n\n"
    assert count_rows(io.StringIO(text)) == 1
    assert len(groups(text)) == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "The file is empty"),
        ("external_id,sku,quantity,colour", "Unknown column(s) 'colour'"),
        ("external_id,sku,sku,quantity", "appear more than once"),
        ("external_id,quantity", "Missing column(s) sku"),
    ],
)
def test_a_header_that_cannot_be_read_refuses_the_whole_file(header, message):
    with pytest.raises(FileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        groups(header)
