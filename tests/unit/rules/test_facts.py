"""Building facts from a basket, local time at the store, and the period keys of limits."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from rules import DEFAULT_FACTS, FactError, member_facts, period_key, purchase_facts

LATTES = [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450}]


def build(occurred_at: datetime, zone: str = "Europe/Paris", items=LATTES, total_minor: int = 900) -> dict:
    return purchase_facts(
        items=items,
        total_minor=total_minor,
        currency="EUR",
        merchant_id="mer_a",
        store_id="sto_1",
        occurred_at=occurred_at,
        timezone=zone,
    )


def test_the_contract_example_basket_gives_the_facts_at_the_store():
    facts = build(datetime.fromisoformat("2026-11-22T10:15:00+08:00"), "Asia/Singapore", total_minor=4250)
    assert facts["purchase.total_minor"] == 4250
    assert facts["purchase.currency"] == "EUR"
    assert facts["purchase.skus"] == {"LATTE"}
    assert facts["purchase.categories"] == {"coffee"}
    assert facts["purchase.item_count"] == 2
    assert facts["purchase.local_weekday"] == "sun"
    assert facts["purchase.local_hour"] == 10
    assert facts["purchase.local_date"] == "2026-11-22"


def test_quantities_of_the_same_sku_and_category_add_up():
    items = [
        {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450},
        {"sku": "MOCHA", "category": "coffee", "quantity": 1, "unit_price_minor": 500},
        {"sku": "LATTE", "category": "coffee", "quantity": 3, "unit_price_minor": 450},
        {"sku": "BAG", "category": None, "quantity": 1, "unit_price_minor": 10},
    ]
    facts = build(datetime(2026, 11, 18, 12, tzinfo=UTC), items=items)
    assert facts["purchase.item_count"] == 7
    assert facts["purchase.units_by_sku"] == {"LATTE": 5, "MOCHA": 1, "BAG": 1}
    assert facts["purchase.units_by_category"] == {"coffee": 6}
    assert facts["purchase.categories"] == {"coffee"}


def test_items_may_be_objects_with_the_same_attributes():
    class Item:
        sku, category, quantity, unit_price_minor = "TEA", "tea", 4, 300

    assert build(datetime(2026, 11, 18, 12, tzinfo=UTC), items=[Item()])["purchase.units_by_sku"] == {"TEA": 4}


@pytest.mark.parametrize(
    ("occurred_at", "zone", "weekday", "hour", "local_date"),
    [
        # 23:30 UTC on Saturday is already Sunday 00:30 in Paris (winter, UTC+1).
        ("2026-11-21T23:30:00+00:00", "Europe/Paris", "sun", 0, "2026-11-22"),
        # 23:59 in Paris stays Saturday.
        ("2026-11-21T22:59:00+00:00", "Europe/Paris", "sat", 23, "2026-11-21"),
        # Early morning UTC Sunday is still Saturday evening in New York.
        ("2026-11-22T03:00:00+00:00", "America/New_York", "sat", 22, "2026-11-21"),
        # The offset written on the timestamp does not matter, only the store's timezone.
        ("2026-11-22T10:15:00+08:00", "Europe/London", "sun", 2, "2026-11-22"),
        # Summer time: Paris is UTC+2.
        ("2026-07-01T22:30:00+00:00", "Europe/Paris", "thu", 0, "2026-07-02"),
    ],
)
def test_local_facts_use_the_store_timezone(occurred_at, zone, weekday, hour, local_date):
    facts = build(datetime.fromisoformat(occurred_at), zone)
    assert facts["purchase.local_weekday"] == weekday
    assert facts["purchase.local_hour"] == hour
    assert facts["purchase.local_date"] == local_date


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"occurred_at": datetime(2026, 11, 18, 12)}, "occurred_at"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"total_minor": -1}, "total_minor"),
        ({"total_minor": 12.5}, "total_minor"),
        ({"total_minor": True}, "total_minor"),
        ({"items": [{"sku": "A", "quantity": 0}]}, "items[0].quantity"),
        ({"items": [{"sku": "A", "quantity": 1.0}]}, "items[0].quantity"),
        ({"items": [{"sku": "", "quantity": 1}]}, "items[0].sku"),
    ],
)
def test_a_malformed_basket_is_a_fact_error(kwargs, field):
    arguments = {
        "items": LATTES,
        "total_minor": 900,
        "currency": "EUR",
        "merchant_id": "mer_a",
        "store_id": "sto_1",
        "occurred_at": datetime(2026, 11, 18, 12, tzinfo=UTC),
        "timezone": "Europe/Paris",
        **kwargs,
    }
    with pytest.raises(FactError) as caught:
        purchase_facts(**arguments)
    assert caught.value.field == field


def member(**overrides) -> dict:
    arguments = {
        "tier": "gold",
        "purchase_count": 3,
        "enrolled_at": datetime(2026, 11, 1, 23, 30, tzinfo=UTC),  # 2 Nov in Paris
        "last_purchase_at": datetime(2026, 11, 20, 9, tzinfo=UTC),
        "lifecycle_stage": "growth",
        "birth_month": 11,
        "occurred_at": datetime(2026, 11, 22, 8, tzinfo=UTC),
        "timezone": "Europe/Paris",
        **overrides,
    }
    return member_facts(**arguments)


def test_member_facts_count_days_between_local_dates_at_the_store():
    facts = member()
    assert facts["member.days_since_enrolment"] == 20
    assert facts["member.days_since_last_purchase"] == 2
    assert facts["member.birthday_month"] is True
    assert facts["member.tier"] == "gold"
    assert facts["member.purchase_count"] == 3
    assert facts["member.lifecycle_stage"] == "growth"


def test_a_first_purchase_has_no_days_since_last_purchase_and_no_tier_is_null():
    facts = member(last_purchase_at=None, tier=None, purchase_count=0, birth_month=None)
    assert facts["member.days_since_last_purchase"] is None
    assert facts["member.tier"] is None
    assert facts["member.birthday_month"] is False


def test_facts_built_by_the_helpers_satisfy_the_schema():
    facts = build(datetime(2026, 11, 18, 12, tzinfo=UTC)) | member()
    DEFAULT_FACTS.check_facts(facts)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"member.tier": 3}, "must be of type str"),
        ({"purchase.skus": ["A", 1]}, "must be of type list[str]"),
        ({"purchase.skus": "A"}, "must be of type list[str]"),
        ({"purchase.total_minor": True}, "must be of type int"),
        ({"purchase.local_weekday": "Sunday"}, "must be one of"),
        ({"purchase.total_minor": None}, "cannot be null"),
    ],
)
def test_the_schema_finds_facts_of_the_wrong_type(change, message):
    facts = build(datetime(2026, 11, 18, 12, tzinfo=UTC)) | member() | change
    with pytest.raises(FactError) as caught:
        DEFAULT_FACTS.check_facts(facts)
    assert message in caught.value.message


def test_the_schema_finds_a_missing_fact():
    with pytest.raises(FactError) as caught:
        DEFAULT_FACTS.check_facts(build(datetime(2026, 11, 18, 12, tzinfo=UTC)))
    assert caught.value.field == "member.tier"


@pytest.mark.parametrize(
    ("period", "local", "key"),
    [
        ("day", datetime(2026, 11, 22, 10, 15), "day:2026-11-22"),
        ("week", datetime(2026, 11, 22, 10, 15), "week:2026-W47"),
        ("month", datetime(2026, 11, 22, 10, 15), "month:2026-11"),
        ("year", datetime(2026, 11, 22, 10, 15), "year:2026"),
        ("ever", datetime(2026, 11, 22, 10, 15), "ever"),
        ("day", date(2026, 1, 5), "day:2026-01-05"),
        # ISO weeks: Monday starts a week, and early January may be the last week of the year before.
        ("week", date(2026, 11, 22), "week:2026-W47"),  # a Sunday
        ("week", date(2026, 11, 23), "week:2026-W48"),  # the Monday after
        ("week", date(2027, 1, 1), "week:2026-W53"),
        ("week", date(2027, 1, 4), "week:2027-W01"),
        ("week", date(2025, 12, 29), "week:2026-W01"),
        ("year", date(2025, 12, 29), "year:2025"),  # calendar year, not ISO year
        ("month", date(2026, 2, 28), "month:2026-02"),
    ],
)
def test_period_keys_name_calendar_periods(period, local, key):
    assert period_key(period, local) == key


@pytest.mark.parametrize(
    ("utc", "zone", "key"),
    [
        # Sunday 23:30 UTC is Monday 00:30 in Paris: a new ISO week at the store.
        ("2026-11-22T23:30:00+00:00", "Europe/Paris", "week:2026-W48"),
        ("2026-11-22T22:30:00+00:00", "Europe/Paris", "week:2026-W47"),
        # ...and still Sunday evening in New York.
        ("2026-11-23T03:00:00+00:00", "America/New_York", "week:2026-W47"),
        # New Year's Eve 13:30 UTC is already 1 January in Sydney (UTC+11).
        ("2026-12-31T13:30:00+00:00", "Australia/Sydney", "year:2027"),
    ],
)
def test_period_keys_follow_the_store_clock_around_midnight(utc, zone, key):
    facts = build(datetime.fromisoformat(utc), zone)
    period = key.split(":")[0]
    assert period_key(period, facts["purchase.occurred_at"]) == key


def test_midnight_at_the_store_starts_a_new_day_key():
    before = datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Paris
    after = before + timedelta(seconds=1)
    keys = [period_key("day", build(t)["purchase.occurred_at"]) for t in (before, after)]
    assert keys == ["day:2026-11-22", "day:2026-11-23"]


def test_an_aware_datetime_is_keyed_by_its_own_wall_clock():
    assert period_key("day", datetime(2026, 11, 22, 23, 30, tzinfo=timezone(timedelta(hours=-5)))) == "day:2026-11-22"


def test_an_unknown_period_is_an_error():
    with pytest.raises(ValueError):
        period_key("fortnight", date(2026, 1, 1))
