"""Saving a rule: effects, limits and the other fields are validated with the same error type."""

from datetime import UTC, datetime

import pytest

from rules import Effect, Limits, RuleError, check_rule


def data(**fields):
    return {"name": "Weekend coffee double", "effect": {"type": "bonus", "points": 10}, **fields}


def test_the_example_rule_of_the_contract_is_valid_and_normalised():
    spec = check_rule(
        {
            "name": "Weekend coffee double",
            "priority": 100,
            "stacking": "stack",
            "merchant_id": None,
            "starts_at": None,
            "ends_at": None,
            "condition": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
            "effect": {"type": "multiplier", "percent": 200},
            "limits": {"per_member": {"times": 1, "period": "day"}, "budget_points": 500000},
        }
    )
    assert spec.effect == Effect("multiplier", percent=200)
    assert spec.limits == Limits(times=1, period="day", budget_points=500000)
    assert spec.priority == 100 and spec.exclusive is False and spec.id is None


def test_defaults_make_a_minimal_rule_an_always_true_stacking_rule_without_limits():
    spec = check_rule(data())
    assert (spec.condition, spec.priority, spec.stacking, spec.limits) == ("", 0, "stack", Limits())


def test_a_spec_round_trips_through_its_dict():
    spec = check_rule(data(id="rul_1", version=3, starts_at="2026-11-01T00:00:00+01:00", limits={"budget_points": 9}))
    assert check_rule(spec.to_dict()) == spec
    assert check_rule(spec) == spec


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        ({"type": "per_amount", "points": 1, "per_minor": 100}, Effect("per_amount", points=1, per_minor=100)),
        ({"type": "per_item", "points": 5, "sku": "LATTE"}, Effect("per_item", points=5, sku="LATTE")),
        ({"type": "per_item", "points": 5, "category": "coffee"}, Effect("per_item", points=5, category="coffee")),
        ({"type": "multiplier", "percent": 150}, Effect("multiplier", percent=150)),
        ({"type": "bonus", "points": 500}, Effect("bonus", points=500)),
    ],
)
def test_each_effect_type_is_accepted(effect, expected):
    assert check_rule(data(effect=effect)).effect == expected
    assert expected.to_dict() == effect


@pytest.mark.parametrize(
    ("effect", "field", "suggestion"),
    [
        (None, "effect", None),
        ({"type": "double"}, "effect.type", None),
        ({"type": "bonsu", "points": 1}, "effect.type", "bonus"),
        ({"type": "bonus"}, "effect.points", None),
        ({"type": "bonus", "points": 1.5}, "effect.points", None),
        ({"type": "bonus", "points": 2.0}, "effect.points", None),
        ({"type": "bonus", "points": "2"}, "effect.points", None),
        ({"type": "bonus", "points": True}, "effect.points", None),
        ({"type": "bonus", "points": 0}, "effect.points", None),
        ({"type": "bonus", "points": -5}, "effect.points", None),
        ({"type": "bonus", "points": 10**13}, "effect.points", None),
        ({"type": "bonus", "points": 1, "percent": 200}, "effect.percent", None),
        ({"type": "per_amount", "points": 1}, "effect.per_minor", None),
        ({"type": "per_amount", "points": 1, "per_minor": 0}, "effect.per_minor", None),
        ({"type": "per_amount", "points": 1, "per_minr": 100}, "effect.per_minr", "per_minor"),
        ({"type": "per_item", "points": 1}, "effect", None),
        ({"type": "per_item", "points": 1, "sku": "A", "category": "B"}, "effect", None),
        ({"type": "per_item", "points": 1, "sku": ""}, "effect.sku", None),
        ({"type": "per_item", "points": 1, "category": 7}, "effect.category", None),
        ({"type": "multiplier", "percent": 100}, "effect.percent", None),
        ({"type": "multiplier", "percent": 50}, "effect.percent", None),
        ({"type": "multiplier", "percent": 150.0}, "effect.percent", None),
    ],
)
def test_invalid_effects_are_rejected_naming_the_field(effect, field, suggestion):
    fields = data(effect=effect) if effect is not None else {"name": "x"}
    with pytest.raises(RuleError) as caught:
        check_rule(fields)
    assert caught.value.field == field
    assert caught.value.position is None
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (None, Limits()),
        ({}, Limits()),
        ({"per_member": {"times": 2, "period": "week"}}, Limits(times=2, period="week")),
        ({"budget_points": 1000}, Limits(budget_points=1000)),
        ({"per_member": None, "budget_points": None}, Limits()),
    ],
)
def test_limits_are_optional_in_each_part(limits, expected):
    assert check_rule(data(limits=limits)).limits == expected


@pytest.mark.parametrize(
    ("limits", "field", "suggestion"),
    [
        ([], "limits", None),
        ({"per_member": {"times": 1, "period": "fortnight"}}, "limits.per_member.period", None),
        ({"per_member": {"times": 1, "period": "days"}}, "limits.per_member.period", "day"),
        ({"per_member": {"times": 1}}, "limits.per_member.period", None),
        ({"per_member": {"period": "day"}}, "limits.per_member.times", None),
        ({"per_member": {"times": 0, "period": "day"}}, "limits.per_member.times", None),
        ({"per_member": {"times": 1.0, "period": "day"}}, "limits.per_member.times", None),
        ({"per_member": {"times": 1, "period": "day", "max": 2}}, "limits.per_member.max", None),
        ({"per_member": 1}, "limits.per_member", None),
        ({"budget_points": 0}, "limits.budget_points", None),
        ({"budget_points": False}, "limits.budget_points", None),
        ({"budget_points": 99.5}, "limits.budget_points", None),
        ({"budget": 100}, "limits.budget", "budget_points"),
    ],
)
def test_invalid_limits_are_rejected_naming_the_field(limits, field, suggestion):
    with pytest.raises(RuleError) as caught:
        check_rule(data(limits=limits))
    assert (caught.value.field, caught.value.suggestion) == (field, suggestion)


@pytest.mark.parametrize(
    ("fields", "field", "suggestion"),
    [
        ({"name": ""}, "name", None),
        ({"name": None}, "name", None),
        ({"priority": "high"}, "priority", None),
        ({"priority": 1.5}, "priority", None),
        ({"stacking": "exclusiv"}, "stacking", "exclusive"),
        ({"merchant_id": 12}, "merchant_id", None),
        ({"starts_at": "2026-11-01T00:00:00"}, "starts_at", None),
        ({"starts_at": "tomorrow"}, "starts_at", None),
        ({"ends_at": datetime(2026, 11, 1)}, "ends_at", None),
        ({"starts_at": "2026-11-02T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}, "ends_at", None),
        ({"starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}, "ends_at", None),
        ({"condition": 5}, "condition", None),
        ({"condition": "purchase.totl_minor > 1"}, "condition", "purchase.total_minor"),
        ({"priorty": 5}, "priorty", "priority"),
    ],
)
def test_invalid_rule_fields_are_rejected_naming_the_field(fields, field, suggestion):
    with pytest.raises(RuleError) as caught:
        check_rule(data(**fields))
    assert (caught.value.field, caught.value.suggestion) == (field, suggestion)


def test_negative_priorities_and_timestamps_with_offsets_are_accepted():
    spec = check_rule(data(priority=-5, starts_at="2026-11-01T00:00:00Z", ends_at=datetime(2026, 12, 1, tzinfo=UTC)))
    assert spec.priority == -5
    assert spec.starts_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_rule_error_is_a_value_error_with_a_stable_reason():
    with pytest.raises(ValueError) as caught:
        check_rule(data(effect={"type": "bonus", "points": 0}))
    assert caught.value.reason == "invalid_rule"
