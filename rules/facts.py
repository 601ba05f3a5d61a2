"""The facts a rule can read, and the one way every caller builds them from a basket."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.errors import FactError, RuleError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PERIODS = ("day", "week", "month", "year", "ever")

# Facts the engine needs besides those a condition may read. They live in the same
# mapping so a purchase travels as one value, but the language does not expose them:
# windows use starts_at/ends_at, per_item effects use the unit counts.
OCCURRED_AT = "purchase.occurred_at"  # aware datetime, converted to the store's timezone
UNITS_BY_SKU = "purchase.units_by_sku"  # {sku: units}
UNITS_BY_CATEGORY = "purchase.units_by_category"  # {category: units}
CONTEXT_FACTS = (OCCURRED_AT, UNITS_BY_SKU, UNITS_BY_CATEGORY)


class FactType(StrEnum):
    """The types a fact can have."""

    INT = "int"
    STR = "str"
    BOOL = "bool"
    STR_LIST = "list[str]"
    INT_LIST = "list[int]"

    @property
    def is_list(self) -> bool:
        """Whether values of this type are lists (usable on the right of ``in``)."""
        return self in (FactType.STR_LIST, FactType.INT_LIST)

    @property
    def element(self) -> FactType:
        """The type of one element of a list type (the type itself for a scalar)."""
        return {FactType.STR_LIST: FactType.STR, FactType.INT_LIST: FactType.INT}.get(self, self)


@dataclass(frozen=True)
class Fact:
    """One fact a condition may read: its dotted name, type, nullability and allowed values."""

    name: str
    type: FactType
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    doc: str = ""


class FactSchema:
    """The set of facts conditions are checked against; immutable, extended by copy."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        self._facts: dict[str, Fact] = {}
        for fact in facts:
            if fact.name in self._facts:
                raise ValueError(f"fact {fact.name!r} is declared twice")
            if fact.name in CONTEXT_FACTS:
                raise ValueError(f"{fact.name!r} is reserved for the engine")
            self._facts[fact.name] = fact

    def extend(self, *facts: Fact) -> FactSchema:
        """A new schema with these facts added (a name already declared is an error)."""
        return FactSchema([*self._facts.values(), *facts])

    def replace(self, *facts: Fact) -> FactSchema:
        """A new schema where these facts replace the ones of the same name (e.g. to add choices)."""
        replaced = {f.name: f for f in facts}
        unknown = set(replaced) - set(self._facts)
        if unknown:
            raise ValueError(f"no such facts to replace: {sorted(unknown)}")
        return FactSchema(replaced.get(name, fact) for name, fact in self._facts.items())

    def __contains__(self, name: object) -> bool:
        return name in self._facts

    def __getitem__(self, name: str) -> Fact:
        return self._facts[name]

    def __iter__(self):
        return iter(self._facts.values())

    def __len__(self) -> int:
        return len(self._facts)

    @property
    def names(self) -> tuple[str, ...]:
        """Every fact name, in declaration order."""
        return tuple(self._facts)

    def suggest(self, name: str) -> str | None:
        """The declared fact nearest to a misspelt name, or None."""
        names = list(self._facts)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            return close[0]
        # "total_minor" or "tier" alone: match the last part of each dotted name.
        tail = name.rsplit(".", 1)[-1]
        by_tail = {n.rsplit(".", 1)[-1]: n for n in names}
        close = difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.75)
        return by_tail[close[0]] if close else None

    def check_facts(self, facts: Mapping[str, Any]) -> None:
        """Raise FactError unless every declared fact is present with a value of its type."""
        for fact in self._facts.values():
            if fact.name not in facts:
                raise FactError(f"missing fact {fact.name!r}", field=fact.name)
            value = facts[fact.name]
            if value is None:
                if not fact.nullable:
                    raise FactError(f"{fact.name} cannot be null", field=fact.name)
                continue
            if not _has_type(value, fact.type):
                raise FactError(f"{fact.name} must be of type {fact.type}, not {value!r}", field=fact.name)
            if fact.choices is not None and value not in fact.choices:
                raise FactError(f"{fact.name} must be one of {', '.join(fact.choices)}", field=fact.name)


def _has_type(value: Any, type_: FactType) -> bool:
    if type_ is FactType.BOOL:
        return isinstance(value, bool)
    if type_ is FactType.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ is FactType.STR:
        return isinstance(value, str)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return False
    return all(_has_type(v, type_.element) for v in value)


DEFAULT_FACTS = FactSchema(
    [
        Fact("purchase.total_minor", FactType.INT, doc="the purchase total in minor units"),
        Fact("purchase.currency", FactType.STR, doc="ISO 4217 code"),
        Fact("purchase.merchant_id", FactType.STR),
        Fact("purchase.store_id", FactType.STR),
        Fact("purchase.skus", FactType.STR_LIST, doc="the distinct SKUs bought"),
        Fact("purchase.categories", FactType.STR_LIST, doc="the distinct categories bought"),
        Fact("purchase.item_count", FactType.INT, doc="units bought (sum of quantities)"),
        Fact("purchase.local_weekday", FactType.STR, choices=WEEKDAYS, doc="in the store's timezone"),
        Fact("purchase.local_hour", FactType.INT, doc="0..23 in the store's timezone"),
        Fact("purchase.local_date", FactType.STR, doc="YYYY-MM-DD in the store's timezone"),
        Fact("member.tier", FactType.STR, nullable=True, doc="tier code, null without a tier"),
        Fact("member.purchase_count", FactType.INT, doc="purchases before this one"),
        Fact("member.days_since_enrolment", FactType.INT),
        Fact("member.days_since_last_purchase", FactType.INT, nullable=True, doc="null for a first purchase"),
        Fact("member.lifecycle_stage", FactType.STR),
        Fact("member.birthday_month", FactType.BOOL, doc="the purchase falls in the member's birthday month"),
    ]
)


def period_key(period: str, local_datetime: datetime | date) -> str:
    """The calendar period a purchase's local time falls in: 'day:2026-11-22', 'week:2026-W47', ..."""
    day = local_datetime.date() if isinstance(local_datetime, datetime) else local_datetime
    if period == "day":
        return f"day:{day.isoformat()}"
    if period == "week":
        # ISO weeks: Monday first; the week of 2026-12-31 may belong to 2027.
        iso = day.isocalendar()
        return f"week:{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"month:{day.year:04d}-{day.month:02d}"
    if period == "year":
        return f"year:{day.year:04d}"
    if period == "ever":
        return "ever"
    raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")


def store_timezone(name: str) -> ZoneInfo:
    """The IANA timezone of a store, or FactError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FactError(f"unknown timezone {name!r}", field="timezone") from exc


def _local(occurred_at: datetime, timezone: str, field: str = "occurred_at") -> datetime:
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise FactError("a timestamp needs its UTC offset", field=field)
    return occurred_at.astimezone(store_timezone(timezone))


def _item_value(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def purchase_facts(
    *,
    items: Iterable[Mapping[str, Any] | Any],
    total_minor: int,
    currency: str,
    merchant_id: str,
    store_id: str,
    occurred_at: datetime,
    timezone: str,
) -> dict[str, Any]:
    """The purchase facts of a basket (items with sku, category, quantity, unit_price_minor)."""
    if isinstance(total_minor, bool) or not isinstance(total_minor, int) or total_minor < 0:
        raise FactError("total_minor must be a non-negative integer", field="total_minor")
    local = _local(occurred_at, timezone)
    by_sku: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for index, item in enumerate(items):
        if isinstance(item, dict):  # the usual case, without the slower Mapping check
            sku, category, quantity = item.get("sku"), item.get("category"), item.get("quantity")
        else:
            sku, category, quantity = (_item_value(item, k) for k in ("sku", "category", "quantity"))
        # type() rather than isinstance(): True is an int to isinstance, and not a quantity.
        if type(quantity) is not int or quantity < 1:
            raise FactError("quantity must be a positive integer", field=f"items[{index}].quantity")
        if type(sku) is not str or not sku:
            raise FactError("sku must be a non-empty string", field=f"items[{index}].sku")
        by_sku[sku] = by_sku.get(sku, 0) + quantity
        if category is not None:
            by_category[category] = by_category.get(category, 0) + quantity
    return {
        "purchase.total_minor": total_minor,
        "purchase.currency": currency,
        "purchase.merchant_id": merchant_id,
        "purchase.store_id": store_id,
        # Sets: `in` against them is a hash look-up, and a list fact is about membership.
        "purchase.skus": frozenset(by_sku),
        "purchase.categories": frozenset(by_category),
        "purchase.item_count": sum(by_sku.values()),
        "purchase.local_weekday": WEEKDAYS[local.weekday()],
        "purchase.local_hour": local.hour,
        "purchase.local_date": local.date().isoformat(),
        OCCURRED_AT: local,
        UNITS_BY_SKU: by_sku,
        UNITS_BY_CATEGORY: by_category,
    }


def member_facts(
    *,
    tier: str | None,
    purchase_count: int,
    enrolled_at: datetime,
    last_purchase_at: datetime | None,
    lifecycle_stage: str,
    birth_month: int | None,
    occurred_at: datetime,
    timezone: str,
) -> dict[str, Any]:
    """The member facts as of a purchase; day counts are between local dates at the store."""
    today = _local(occurred_at, timezone).date()
    enrolled = _local(enrolled_at, timezone, "enrolled_at").date()
    last = None if last_purchase_at is None else _local(last_purchase_at, timezone, "last_purchase_at").date()
    if isinstance(purchase_count, bool) or not isinstance(purchase_count, int) or purchase_count < 0:
        raise FactError("purchase_count must be a non-negative integer", field="purchase_count")
    return {
        "member.tier": tier,
        "member.purchase_count": purchase_count,
        "member.days_since_enrolment": max(0, (today - enrolled).days),
        "member.days_since_last_purchase": None if last is None else max(0, (today - last).days),
        "member.lifecycle_stage": lifecycle_stage,
        "member.birthday_month": birth_month == today.month,
    }


def reject_context_fact(name: str, position: int, text: str) -> RuleError:
    """The error for a condition that names a fact only the engine itself may read."""
    hints = {
        OCCURRED_AT: "use the rule's starts_at/ends_at, or purchase.local_date and purchase.local_hour",
        UNITS_BY_SKU: "use a per_item effect, or purchase.skus",
        UNITS_BY_CATEGORY: "use a per_item effect, or purchase.categories",
    }
    return RuleError(f"{name} cannot be used in a condition: {hints[name]}", position, text=text)
