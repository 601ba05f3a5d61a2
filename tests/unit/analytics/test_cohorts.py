"""Churn per period and cohort retention on hand-made purchase periods."""

from __future__ import annotations

import numpy as np

from loyalty.analytics.cohorts import (
    churn_table,
    cohort_table,
    month_label,
    month_of_day,
    week_label,
    week_of_day,
)


def test_periods_of_days():
    # 1970-01-01 is day 0 (a Thursday); 2026-11-30 is day 20787 (a Monday).
    assert month_label(int(month_of_day(np.array([0]))[0])) == "1970-01"
    assert month_label(int(month_of_day(np.array([20787]))[0])) == "2026-11"
    assert week_label(int(week_of_day(np.array([20787]))[0])) == "2026-11-30"
    assert week_label(int(week_of_day(np.array([20793]))[0])) == "2026-11-30"  # the Sunday after
    assert week_label(int(week_of_day(np.array([20794]))[0])) == "2026-12-07"


def test_active_new_churned_and_reactivated_per_period():
    # Periods 0..4. Member a: 0, 1, 3 | member b: 1, 2 | member c: 2, 3, 4 (twice in 3) | member d: 4.
    pairs = [("a", 0), ("a", 1), ("a", 3), ("b", 1), ("b", 2), ("c", 2), ("c", 3), ("c", 3), ("c", 4), ("d", 4)]
    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    member = np.array([index[m] for m, _ in pairs])
    period = np.array([p for _, p in pairs])
    table = churn_table(member, period, 0, 4)
    assert table["active"].tolist() == [1, 2, 2, 2, 2]
    assert table["new"].tolist() == [1, 1, 1, 0, 1]
    assert table["reactivated"].tolist() == [0, 0, 0, 1, 0]
    assert table["churned"].tolist() == [0, 0, 1, 1, 1]  # a in 2, b in 3, a in 4
    # active = previous active - churned + new + reactivated, every period.
    for p in range(1, 5):
        previous = table["active"][p - 1]
        assert table["active"][p] == previous - table["churned"][p] + table["new"][p] + table["reactivated"][p]


def test_a_window_of_periods_counts_churn_from_the_period_before_it():
    member = np.array([0, 1])
    period = np.array([5, 6])
    table = churn_table(member, period, 6, 7)
    assert table["active"].tolist() == [1, 0]
    assert table["churned"].tolist() == [1, 1]  # member 0 stopped in 6, member 1 in 7
    assert table["new"].tolist() == [1, 0]


def test_cohort_retention_by_enrolment_month():
    # Cohort 10: members 0, 1, 2; cohort 11: member 3; member 4 enrolled before the table starts.
    cohort_of = np.array([10, 10, 10, 11, 9])
    member = np.array([0, 0, 1, 1, 3, 4])
    period = np.array([10, 12, 11, 12, 11, 10])
    sizes, active = cohort_table(member, period, cohort_of, 10, 12, max_offset=2)
    assert sizes.tolist() == [3, 1, 0]
    assert active.tolist() == [[1, 1, 2], [1, 0, 0], [0, 0, 0]]


def test_presorted_pairs_give_the_same_tables():
    rng = np.random.default_rng(5)
    member = np.sort(rng.integers(0, 50, 2000))
    period = np.concatenate([np.sort(rng.integers(0, 30, (member == m).sum())) for m in range(50)])
    straight = churn_table(member, period, 0, 29, presorted=True)
    shuffled_order = rng.permutation(member.size)
    shuffled = churn_table(member[shuffled_order], period[shuffled_order], 0, 29)
    assert all((straight[k] == shuffled[k]).all() for k in straight)
