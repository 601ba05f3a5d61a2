"""Lifecycle stages from one member's own purchase days, rule by rule (docs/analytics.md)."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.analytics.lifecycle import (
    DEFAULT_SETTINGS,
    LifecycleSettings,
    Visits,
    check_settings,
    classify,
    grouped_median,
    member_features,
    stage_from_history,
)
from loyalty.errors import ValidationFailed

TODAY = 20_000


def weekly(count: int, last_ago: int = 0) -> list[int]:
    """``count`` purchases a week apart, the last ``last_ago`` days before today."""
    return [TODAY - last_ago - 7 * k for k in range(count)]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # No purchase at all.
        ([], "prospect"),
        # One purchase: program-wide days (at risk > 60, lapsed > 120, lost > 365).
        ([TODAY], "first_purchase"),
        ([TODAY - 60], "first_purchase"),
        ([TODAY - 61], "at_risk"),
        ([TODAY - 120], "at_risk"),
        ([TODAY - 121], "lapsed"),
        ([TODAY - 365], "lapsed"),
        ([TODAY - 366], "lost"),
        # Two or three purchases: still no rhythm of their own, program-wide days.
        ([TODAY - 70, TODAY - 75], "at_risk"),
        ([TODAY - 10, TODAY - 14, TODAY - 20], "growth"),
        # A weekly rhythm (four purchases and more): at risk after 2 x 7 days, lapsed after 4 x 7.
        (weekly(30, last_ago=14), "maturity"),
        (weekly(30, last_ago=15), "at_risk"),
        (weekly(30, last_ago=28), "at_risk"),
        (weekly(30, last_ago=29), "lapsed"),
        # ... and lost only after the program's 365 days, however short the rhythm.
        (weekly(10, last_ago=365), "lapsed"),
        (weekly(10, last_ago=366), "lost"),
        # A monthly rhythm: 45 days without a purchase is not late for them.
        ([TODAY - 45 - 30 * k for k in range(6)], "maturity"),
        ([TODAY - 61 - 30 * k for k in range(6)], "at_risk"),
        # A daily buyer's gap counts as 7 days (min_gap_days), so two days off is not late.
        ([TODAY - 2 - k for k in range(200)], "maturity"),
        # A member whose whole history is in the recent window, with a second visit, is growing.
        (weekly(10, last_ago=14), "growth"),
        # Steady weekly for a year: maturity.
        (weekly(52), "maturity"),
        # Monthly for a year, then weekly for the last three months: growth.
        ([TODAY - 100 - 30 * k for k in range(9)] + weekly(13), "growth"),
        # Came back after a gap beyond their lapsed threshold, within the last 90 days: won back.
        ([TODAY - 5, *weekly(10, last_ago=200)], "won_back"),
        ([TODAY - 5, TODAY - 300], "won_back"),
        # ... but more than 90 days ago: no longer won back (and buying more than in the window before: growth).
        ([*weekly(20, last_ago=0)[:15], *weekly(10, last_ago=400)], "growth"),
        ([TODAY - 7 * k for k in range(40)] + [TODAY - 700], "maturity"),
        # Won back, then late again: late wins.
        ([TODAY - 70, TODAY - 400], "at_risk"),
    ],
)
def test_stage_from_a_members_own_purchases(days, expected):
    assert stage_from_history(days, today=TODAY) == expected


def test_spending_more_per_visit_is_growth_too():
    days = [TODAY - 10 * k for k in range(18)]  # every ten days for six months
    spend = [300 if day > TODAY - 90 else 100 for day in days]
    assert stage_from_history(days, today=TODAY, spend=spend) == "growth"
    assert stage_from_history(days, today=TODAY) == "maturity"


def test_several_receipts_on_one_day_are_one_visit():
    assert stage_from_history([TODAY - 3, TODAY - 3, TODAY - 3], today=TODAY) == "first_purchase"


def test_purchases_after_today_or_of_no_net_value_do_not_count():
    visits = Visits.from_purchases(
        np.array([0, 0, 0]), np.array([TODAY - 5, TODAY + 1, TODAY - 2]), np.array([100, 100, 0]), 1, today=TODAY
    )
    assert visits.day.tolist() == [TODAY - 5]


def test_thresholds_come_from_the_settings():
    eager = LifecycleSettings(at_risk_days=10, lapsed_days=20, lost_days=30)
    assert stage_from_history([TODAY - 15], today=TODAY, settings=eager) == "at_risk"
    assert stage_from_history([TODAY - 31], today=TODAY, settings=eager) == "lost"
    strict = LifecycleSettings(at_risk_multiple=1.5)
    assert stage_from_history(weekly(10, last_ago=11), today=TODAY, settings=strict) == "at_risk"


def test_features_of_many_members_are_computed_together():
    # Member 0: days 1, 4, 10, 11 (gaps 3, 6, 1 -> median 3); member 1: nothing; member 2: days 5, 9 (gap 4).
    member = np.array([2, 0, 0, 2, 0, 0])
    day = np.array([9, 10, 1, 5, 4, 11])
    visits = Visits.from_purchases(member, day, np.full(6, 100), 3, today=20)
    features = member_features(visits, today=20)
    assert features.days.tolist() == [4, 0, 2]
    assert features.first_day.tolist() == [1, -1, 5]
    assert features.last_day.tolist() == [11, -1, 9]
    assert features.recency.tolist() == [9, -1, 11]
    assert features.median_gap[0] == 3 and np.isnan(features.median_gap[1]) and features.median_gap[2] == 4
    assert classify(features, today=20).tolist() == [2, 0, 2]  # growth (all history recent), prospect, growth


def test_grouped_median_of_odd_and_even_groups():
    group = np.array([0, 0, 0, 1, 1, 1, 1])
    values = np.array([5, 1, 3, 10, 2, 8, 4])
    assert grouped_median(group, values, 3)[:2].tolist() == [3.0, 6.0]
    assert np.isnan(grouped_median(group, values, 3)[2])


def test_settings_default_when_left_out_and_are_checked():
    assert check_settings({}) == DEFAULT_SETTINGS
    assert check_settings({"at_risk_days": 30}).at_risk_days == 30
    assert check_settings({"growth_ratio": 2}).growth_ratio == 2.0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"bogus": 1}, "lifecycle_settings.bogus"),
        ({"at_risk_days": "60"}, "lifecycle_settings.at_risk_days"),
        ({"at_risk_days": True}, "lifecycle_settings.at_risk_days"),
        ({"at_risk_days": 1.5}, "lifecycle_settings.at_risk_days"),
        ({"at_risk_days": 0}, "lifecycle_settings.at_risk_days"),
        ({"at_risk_days": 200}, "lifecycle_settings.lapsed_days"),
        ({"lapsed_multiple": 10}, "lifecycle_settings.lapsed_multiple"),
        ({"rhythm_min_purchases": 2}, "lifecycle_settings.rhythm_min_purchases"),
        ({"growth_ratio": 0.5}, "lifecycle_settings.growth_ratio"),
    ],
)
def test_settings_that_do_not_fit_are_refused_naming_the_key(raw, field):
    with pytest.raises(ValidationFailed) as refused:
        check_settings(raw)
    assert field in refused.value.errors
