"""The end-of-day purchases file: one CSV row per line item, read into whole purchases and returns.

Rows of one purchase (or one return) share its ``external_id`` and follow each
other. A row that cannot be read rejects the whole purchase it belongs to, with
the line number and the reason; nothing here touches the database. The format is
documented in docs/purchases-import.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from loyalty.text import has_control_characters

SALE, RETURN = "sale", "return"
KINDS = (SALE, RETURN)
IDENTIFIERS = ("card_number", "phone", "email")
COLUMNS = (
    "kind",
    "external_id",
    "original_external_id",
    "occurred_at",
    *IDENTIFIERS,
    "sku",
    "category",
    "quantity",
    "unit_price",
    "discount",
)
REQUIRED_COLUMNS = ("external_id", "sku", "quantity")
# The same bounds as POST /purchases.
MAX_ITEMS = 1000
LARGEST_QUANTITY = 1_000_000
LARGEST_AMOUNT = 10**12
_LONGEST = {"external_id": 64, "original_external_id": 64, "sku": 100, "category": 100, "email": 320, "phone": 32}
_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class FileError(Exception):
    """The file as a whole cannot be imported (no header, unknown columns): nothing is read from it."""


class RowError(Exception):
    """One row cannot be read; ``line`` is where it is in the file."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Group:
    """A purchase (``kind`` sale) or a return, from the consecutive rows that share its ``external_id``."""

    kind: str
    external_id: str
    first_line: int
    last_line: int = 0
    original_external_id: str | None = None
    member_ref: dict[str, str] | None = None
    occurred_at: datetime | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    total_minor: int = 0
    rows: int = 1
    error: RowError | None = None

    def fingerprint_body(self, *, store_id: str, currency: str) -> dict[str, Any]:
        """What identifies this purchase's content, whichever file or run it comes from."""
        if self.kind == RETURN:
            return {
                "source": "file",
                "kind": RETURN,
                "original_external_id": self.original_external_id,
                "items": [{"sku": i["sku"], "quantity": i["quantity"]} for i in self.items],
            }
        return {
            "source": "file",
            "kind": SALE,
            "store_id": store_id,
            "member": self.member_ref,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat() if self.occurred_at else None,
            "currency": currency,
            "total_minor": self.total_minor,
            "items": self.items,
        }


@dataclass(frozen=True)
class FileFormat:
    """What a file's amounts and local times mean: the program's currency, and the store's timezone."""

    minor_digits: int
    timezone: str


def count_rows(stream: TextIO) -> int:
    """How many data rows (not counting the header) a file holds, for the progress bar."""
    return max(sum(1 for values in csv.reader(stream) if any(value.strip() for value in values)) - 1, 0)


def read_groups(stream: TextIO, file_format: FileFormat) -> Iterator[Group]:
    """The file's purchases and returns in file order; a group with ``error`` set is to be rejected whole."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise FileError("The file is empty: it needs a header row naming its columns.") from None
    columns = [name.strip().lower() for name in header]
    _check_header(columns)
    zone = ZoneInfo(file_format.timezone)
    seen: dict[tuple[str, str], int] = {}
    current: Group | None = None
    current_raw: dict[str, str] = {}
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # a blank line separates nothing and means nothing
        raw = _row(columns, values, line)
        kind = (raw.get("kind") or SALE).lower()
        external_id = raw.get("external_id", "")
        if current is not None and (current.kind, current.external_id) == (kind, external_id) and external_id:
            current.last_line = line
            current.rows += 1
            if current.error is None:
                _add_row(current, current_raw, raw, line, file_format, zone)
            continue
        if current is not None:
            yield _finished(current)
        current = Group(kind=kind, external_id=external_id, first_line=line, last_line=line)
        current_raw = raw
        key = (kind, external_id)
        if external_id and key in seen:
            current.error = RowError(
                line,
                f"{kind} {external_id!r} already appeared at line {seen[key]}: "
                "the rows of one purchase or return must follow each other.",
            )
            continue
        if external_id:
            seen[key] = line
        _start(current, raw, line, file_format, zone)
    if current is not None:
        yield _finished(current)


def _check_header(columns: list[str]) -> None:
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise FileError(f"Unknown column(s) {', '.join(map(repr, unknown))}; the columns are {', '.join(COLUMNS)}.")
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        raise FileError(f"Column(s) {', '.join(map(repr, doubled))} appear more than once.")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise FileError(f"Missing column(s) {', '.join(missing)}.")


def _row(columns: list[str], values: list[str], line: int) -> dict[str, str]:
    if len(values) > len(columns):
        return {"__error__": f"{len(values)} values, but the header names {len(columns)} columns."}
    return {name: value.strip() for name, value in zip(columns, values, strict=False)}


def _text(raw: dict[str, str], name: str, line: int, *, required: bool) -> str | None:
    value = raw.get(name) or None
    if value is None:
        if required:
            raise RowError(line, f"{name} is required.")
        return None
    if has_control_characters(value):
        raise RowError(line, f"{name} contains control characters.")
    if len(value) > _LONGEST.get(name, 100):
        raise RowError(line, f"{name} is longer than {_LONGEST.get(name, 100)} characters.")
    return value


def _quantity(raw: dict[str, str], line: int) -> int:
    text = raw.get("quantity", "")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= LARGEST_QUANTITY:
        raise RowError(line, f"quantity must be a whole number from 1 to {LARGEST_QUANTITY}, not {text!r}.")
    return int(text)


def amount_minor(text: str, digits: int, *, name: str, line: int) -> int:
    """A decimal amount of the currency (``4.50``) in minor units (450); at most ``digits`` decimals."""
    if not _AMOUNT.match(text):
        raise RowError(line, f"{name} must be a decimal amount such as 4.50, not {text!r}.")
    fraction = text.partition(".")[2]
    if len(fraction) > digits:
        raise RowError(line, f"{name} {text} has more than the currency's {digits} decimal places.")
    value = int(Decimal(text).scaleb(digits))
    if value > LARGEST_AMOUNT:
        raise RowError(line, f"{name} {text} is too large.")
    return value


def _occurred_at(text: str | None, line: int, zone: ZoneInfo) -> datetime:
    if not text:
        raise RowError(line, "occurred_at is required for a sale.")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(
            line, f"occurred_at must be ISO 8601 such as 2026-11-22T10:15:00+08:00 or 2026-11-22 10:15, not {text!r}."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)  # store-local time; an ambiguous hour is its first occurrence
    try:
        year = value.astimezone(UTC).year
    except (OverflowError, ValueError):
        year = 0
    if not 1970 <= year < 9000:
        raise RowError(line, "occurred_at must be between 1970 and 9000.")
    return value


def _member_ref(raw: dict[str, str], line: int) -> dict[str, str] | None:
    given = {name: _text(raw, name, line, required=False) for name in IDENTIFIERS}
    given = {name: value for name, value in given.items() if value}
    if len(given) > 1:
        raise RowError(line, f"name the member by one of card_number, phone or email, not {' and '.join(given)}.")
    return given or None


def _start(group: Group, raw: dict[str, str], line: int, file_format: FileFormat, zone: ZoneInfo) -> None:
    try:
        if "__error__" in raw:
            raise RowError(line, raw["__error__"])
        if group.kind not in KINDS:
            raise RowError(line, f"kind must be sale or return, not {group.kind!r}.")
        _text(raw, "external_id", line, required=True)
        if group.kind == RETURN:
            group.original_external_id = _text(raw, "original_external_id", line, required=True)
        else:
            if raw.get("original_external_id"):
                raise RowError(line, "original_external_id is for return rows only.")
            group.member_ref = _member_ref(raw, line)
            group.occurred_at = _occurred_at(raw.get("occurred_at"), line, zone)
        _add_item(group, raw, line, file_format)
    except RowError as error:
        group.error = error


def _add_row(
    group: Group, first: dict[str, str], raw: dict[str, str], line: int, file_format: FileFormat, zone: ZoneInfo
) -> None:
    try:
        if "__error__" in raw:
            raise RowError(line, raw["__error__"])
        shared = ("original_external_id",) if group.kind == RETURN else ("occurred_at", *IDENTIFIERS)
        for name in shared:
            if raw.get(name, "") != first.get(name, ""):
                raise RowError(
                    line, f"{name} {raw.get(name, '')!r} differs from line {group.first_line} of the same {group.kind}."
                )
        if len(group.items) >= MAX_ITEMS:
            raise RowError(line, f"a {group.kind} has at most {MAX_ITEMS} lines.")
        _add_item(group, raw, line, file_format)
    except RowError as error:
        group.error = error


def _add_item(group: Group, raw: dict[str, str], line: int, file_format: FileFormat) -> None:
    sku = _text(raw, "sku", line, required=True)
    quantity = _quantity(raw, line)
    if group.kind == RETURN:
        group.items.append({"sku": sku, "quantity": quantity})
        return
    price_text = raw.get("unit_price", "")
    if not price_text:
        raise RowError(line, "unit_price is required for a sale.")
    unit_price = amount_minor(price_text, file_format.minor_digits, name="unit_price", line=line)
    discount_text = raw.get("discount", "")
    discount = amount_minor(discount_text, file_format.minor_digits, name="discount", line=line) if discount_text else 0
    if discount > quantity * unit_price:
        raise RowError(line, f"discount {discount_text} is more than the line's value.")
    group.items.append(
        {
            "sku": sku,
            "category": _text(raw, "category", line, required=False),
            "quantity": quantity,
            "unit_price_minor": unit_price,
        }
    )
    group.total_minor += quantity * unit_price - discount
    if group.total_minor > LARGEST_AMOUNT:
        raise RowError(line, "the purchase's total is too large.")


def _finished(group: Group) -> Group:
    if group.error is None and not group.external_id:
        group.error = RowError(group.first_line, "external_id is required.")
    return group
