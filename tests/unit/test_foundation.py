"""Units of the foundation that need no database: ids, cursors, currencies, rounding, timestamps."""

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.common import StrictInteger, Timestamp
from loyalty.db import UTCDateTime, new_id
from loyalty.errors import ValidationFailed
from loyalty.pagination import decode_cursor, encode_cursor
from loyalty.units import check_currency, floor_div, minor_digits


def test_ids_are_prefixed_and_unique():
    ids = [new_id("mbr") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.startswith("mbr_") and len(i) == 30 for i in ids)


def test_ids_made_later_sort_later():
    earlier = new_id("mbr")
    time.sleep(0.002)  # ids order by millisecond; within one they are random
    assert new_id("mbr") > earlier


def test_a_cursor_round_trips_and_a_forged_one_is_a_validation_error():
    assert decode_cursor(encode_cursor("mbr_01JD0000000000000000000000")) == "mbr_01JD0000000000000000000000"
    with pytest.raises(ValidationFailed):
        decode_cursor("%%%not-base64")


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("JPY", 0), ("BHD", 3), ("HKD", 2), ("TWD", 2)])
def test_currencies_know_their_minor_units(code, digits):
    assert check_currency(code) == code
    assert minor_digits(code) == digits


@pytest.mark.parametrize("code", ["XYZ", "eur", "", "EURO"])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(ValidationFailed):
        check_currency(code)


@pytest.mark.parametrize(
    ("numerator", "denominator", "result"), [(999, 100, 9), (1000, 100, 10), (0, 7, 0), (-1, 100, -1)]
)
def test_rounding_is_down_in_integers(numerator, denominator, result):
    assert floor_div(numerator, denominator) == result


def test_rounding_refuses_booleans():
    with pytest.raises(TypeError):
        floor_div(True, 1)


def test_utc_columns_store_utc_and_refuse_naive_times():
    column = UTCDateTime()
    taipei = datetime(2026, 11, 22, 18, 15, tzinfo=timezone(timedelta(hours=8)))
    stored = column.process_bind_param(taipei, None)
    assert stored == datetime(2026, 11, 22, 10, 15, tzinfo=UTC) and stored.tzinfo == UTC
    assert column.process_result_value(datetime(2026, 1, 1), None).tzinfo == UTC
    with pytest.raises(ValueError):
        column.process_bind_param(datetime(2026, 1, 1), None)


def test_timestamps_are_written_in_utc_with_z():
    field = Timestamp()
    value = datetime(2026, 11, 22, 18, 15, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert field.serialize("t", {"t": value}) == "2026-11-22T10:15:00.123Z"


def test_timestamps_without_an_offset_are_refused():
    from marshmallow import ValidationError

    field = Timestamp()
    assert field.deserialize("2026-11-22T10:15:00+08:00") == datetime(2026, 11, 22, 2, 15, tzinfo=UTC)
    with pytest.raises(ValidationError):
        field.deserialize("2026-11-22T10:15:00")


@pytest.mark.parametrize("value", [1.0, 1.5, "1", True, None, [1]])
def test_strict_integers_refuse_anything_but_a_json_integer(value):
    from marshmallow import ValidationError

    with pytest.raises(ValidationError):
        StrictInteger(required=True).deserialize(value)


def test_strict_integers_take_integers():
    assert StrictInteger().deserialize(1250) == 1250


def test_a_row_object_reads_like_a_loaded_row_even_first_thing_in_a_process():
    # A fresh interpreter: no query and no constructor has configured the mappers yet.
    script = """
from loyalty.db import row_object
import loyalty.models
from loyalty.purchases.models import Purchase
purchase = row_object(Purchase, {"id": "pur_1", "total_minor": 1250})
purchase.points_awarded = 12
print(purchase.id, purchase.total_minor, purchase.points_awarded, purchase.claimed_at)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pur_1", "1250", "12", "None"]
