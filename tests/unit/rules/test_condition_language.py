"""The condition language: each operator and fact, and the errors a marketer sees."""

import pytest

from rules import DEFAULT_FACTS, Fact, FactType, RuleError, compile_condition

from .helpers import basket_facts

ITEMS = [
    {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450},
    {"sku": "CROISSANT", "category": "bakery", "quantity": 1, "unit_price_minor": 250},
]


def holds(condition: str, **member) -> bool:
    facts = basket_facts(items=ITEMS, total_minor=1150, **member)
    test = compile_condition(condition, DEFAULT_FACTS).test
    return True if test is None else test(facts)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("", True),
        ("   ", True),
        ("true", True),
        ("false", False),
        ("purchase.total_minor == 1150", True),
        ("purchase.total_minor != 1150", False),
        ("purchase.total_minor < 1151", True),
        ("purchase.total_minor < 1150", False),
        ("purchase.total_minor <= 1150", True),
        ("purchase.total_minor > 1149", True),
        ("purchase.total_minor > 1150", False),
        ("purchase.total_minor >= 1150", True),
        ("1000 < purchase.total_minor", True),
        ("purchase.total_minor > -1", True),
        ('"coffee" in purchase.categories', True),
        ('"wine" in purchase.categories', False),
        ('"wine" not in purchase.categories', True),
        ('purchase.local_weekday in ["sat", "sun"]', False),
        ('purchase.local_weekday not in ["sat", "sun"]', True),
        ("purchase.local_hour in [11, 12, 13]", True),
        ("true and false", False),
        ("true or false", True),
        ("not false", True),
        ("not true", False),
        ("not not true", True),
        ("false and false or true", True),  # and binds tighter than or
        ("false and (false or true)", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("not purchase.total_minor == 1", True),  # not applies to the whole comparison
        ('member.tier == "silver" and purchase.total_minor >= 1000', True),
        ('member.tier == "gold" or purchase.item_count == 3', True),
        ('"a\\"b" == "a\\"b"', True),
        ('purchase.local_date >= "2026-11-01" and purchase.local_date < "2026-12-01"', True),
        ("member.birthday_month == false", True),
        ("member.birthday_month != true", True),
        ("(\n  purchase.total_minor > 1\n)", True),
    ],
)
def test_each_operator_evaluates_as_written(condition, expected):
    assert holds(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("purchase.total_minor == 1150", True),
        ('purchase.currency == "EUR"', True),
        ('purchase.merchant_id == "mer_a"', True),
        ('purchase.store_id == "sto_1"', True),
        ('"CROISSANT" in purchase.skus', True),
        ('"bakery" in purchase.categories', True),
        ("purchase.item_count == 3", True),
        ('purchase.local_weekday == "wed"', True),
        ("purchase.local_hour == 12", True),
        ('purchase.local_date == "2026-11-18"', True),
        ('member.tier == "silver"', True),
        ("member.purchase_count == 5", True),
        ("member.days_since_enrolment == 100", True),
        ("member.days_since_last_purchase == 7", True),
        ('member.lifecycle_stage == "growth"', True),
        ("member.birthday_month", False),
    ],
)
def test_each_fact_can_be_read(condition, expected):
    assert holds(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("member.tier == null", True),
        ("member.tier != null", False),
        ('member.tier in ["gold", null]', True),
        ('member.tier in ["gold", "silver"]', False),
        ('member.tier == "gold"', False),
        ("member.days_since_last_purchase == null", True),
        ("member.days_since_last_purchase > 30", False),  # an order comparison with null is false
        ("member.days_since_last_purchase <= 30", False),
        ("not (member.days_since_last_purchase > 30)", True),
    ],
)
def test_null_facts_compare_equal_to_null_and_never_in_order(condition, expected):
    assert holds(condition, tier=None, days_since_last_purchase=None) is expected


def test_a_schema_can_be_extended_with_a_fact_rules_may_then_read():
    schema = DEFAULT_FACTS.extend(Fact("member.referrals", FactType.INT))
    test = compile_condition("member.referrals >= 3", schema).test
    assert test({"member.referrals": 3}) is True
    with pytest.raises(RuleError):
        compile_condition("member.referrals >= 3", DEFAULT_FACTS)


def test_a_fact_can_be_given_choices_that_literals_are_checked_against():
    schema = DEFAULT_FACTS.replace(Fact("member.lifecycle_stage", FactType.STR, choices=("prospect", "growth")))
    with pytest.raises(RuleError) as error:
        compile_condition('member.lifecycle_stage == "growht"', schema)
    assert error.value.suggestion == "growth"


@pytest.mark.parametrize(
    ("condition", "position", "message", "suggestion"),
    [
        ("purchase.categoris", 0, "unknown fact 'purchase.categoris'", "purchase.categories"),
        ("purchase.total_minor > 1 and membr.tier == null", 29, "unknown fact", "member.tier"),
        ("total_minor > 100", 0, "unknown fact", "purchase.total_minor"),
        ("shoe_size > 40", 0, "unknown fact 'shoe_size'", None),
        ("purchase.occurred_at > 3", 0, "cannot be used in a condition", None),
        ('purchase.local_weekday == "saturday"', 26, "not a value of purchase.local_weekday", "sat"),
        ('purchase.local_weekday in ["sun", "Mon"]', 34, "not a value", "mon"),
        ("purchase.total_minor == 12.50", 24, "whole numbers", None),
        ('purchase.total_minor > "100"', 21, "cannot compare purchase.total_minor (a number) with a string", None),
        ("member.tier == 3", 12, "cannot compare", None),
        ("member.birthday_month > false", 22, "no order", None),
        ("purchase.total_minor == null", 0, "purchase.total_minor is never null", None),
        ("member.tier < null", 12, "null has no order", None),
        ("purchase.total_minor", 0, "must be true or false", None),
        ('"coffee"', 0, "must be true or false", None),
        ("not purchase.item_count", 4, "'not' needs true or false", None),
        ("purchase.item_count and true", 0, "'and' needs true or false", None),
        ("member.tier in purchase.total_minor", 15, "needs a list on its right", None),
        ("purchase.skus == purchase.categories", 0, "a list can only be on the right of 'in'", None),
        ("purchase.skus in purchase.categories", 0, "a list cannot be looked up in a list", None),
        ("3 in purchase.categories", 2, "the list holds a strings", None),
        ('"a" in ["b", 3]', 13, "a list mixes", None),
        ("purchase.local_hour in [1, purchase.item_count]", 27, "only literal values", None),
        ("purchase.item_count in [1, null]", 0, "never null", None),
        ("null in [1]", 0, "test for null with == null", None),
        ("purchase.item_count = 3", 20, "use '==' to compare", "=="),
        ("true && false", 5, "use 'and'", "and"),
        ("true || false", 5, "use 'or'", "or"),
        ("!true", 0, "use 'not'", "not"),
        ("purchase.item_count <> 3", 20, "'!='", "!="),
        ("purchase.item_count => 3", 20, "did you mean", ">="),
        ("'coffee' in purchase.categories", 0, "strings use double quotes", '"coffee"'),
        ('"coffee in purchase.categories', 0, "not closed", None),
        ('"a\\q" == "a"', 2, "unknown escape", None),
        ("True", 0, "lower case", "true"),
        ("purchase.item_count > 1 AND true", 24, "unexpected AND", None),
        ("(purchase.item_count > 1", 24, "ends too early", None),
        ("purchase.item_count > 1)", 23, "unexpected )", None),
        ("purchase.item_count >", 21, "ends too early", None),
        ("and true", 0, "'and' needs a value before it", None),
        ("1 < purchase.item_count < 3", 24, "do not chain", None),
        ("purchase.item_count > 1 @ 2", 24, "unexpected character '@'", None),
        ("- purchase.item_count > 1", 2, "'-' must be followed by a whole number", None),
        ("[1, 2", 5, "ends too early", None),
        ("[1 2]", 3, "expected ',' or ']'", None),
    ],
)
def test_invalid_conditions_are_rejected_with_position_message_and_suggestion(condition, position, message, suggestion):
    with pytest.raises(RuleError) as caught:
        compile_condition(condition, DEFAULT_FACTS)
    error = caught.value
    assert error.position == position
    assert message in error.message
    assert error.suggestion == suggestion
    assert error.field == "condition"


def test_an_error_on_a_later_line_reports_line_and_column():
    with pytest.raises(RuleError) as caught:
        compile_condition('purchase.total_minor > 100\nand membr.tier == "gold"', DEFAULT_FACTS)
    error = caught.value
    assert (error.line, error.column) == (2, 5)
    assert error.to_dict() == {
        "field": "condition",
        "message": "unknown fact 'membr.tier'",
        "position": 31,
        "line": 2,
        "column": 5,
        "suggestion": "member.tier",
    }
    assert "did you mean 'member.tier'?" in str(error)


@pytest.mark.parametrize(
    "condition",
    [
        '__import__("os").system("true")',
        "purchase.total_minor.__class__ == 1",
        "().__class__",
        "lambda: 1",
        'f"{1}" == "1"',
        "purchase.total_minor if true else 0",
    ],
)
def test_python_syntax_is_not_part_of_the_language(condition):
    with pytest.raises(RuleError):
        compile_condition(condition, DEFAULT_FACTS)
