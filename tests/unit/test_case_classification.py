"""The rules that make a missing-points case urgent, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loyalty.cases.classify import CLAIM_WINDOW_MARGIN_DAYS, URGENT_POINTS, classify, explain

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
WINDOW = 30


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.mark.parametrize(
    ("points", "top_tier", "occurred", "earlier", "priority", "reasons"),
    [
        # Nothing special: a small claim, a recent purchase, a first complaint.
        (100, False, days_ago(2), 0, "normal", []),
        (None, False, None, 0, "normal", []),
        # The points threshold, exactly at and just below it.
        (URGENT_POINTS, False, days_ago(2), 0, "urgent", ["points"]),
        (URGENT_POINTS - 1, False, days_ago(2), 0, "normal", []),
        # The top tier.
        (10, True, days_ago(2), 0, "urgent", ["top_tier"]),
        # The claim window: 7 days left is urgent, 8 is not, and a closed window is.
        (10, False, days_ago(WINDOW - CLAIM_WINDOW_MARGIN_DAYS), 0, "urgent", ["claim_window"]),
        (10, False, days_ago(WINDOW - CLAIM_WINDOW_MARGIN_DAYS - 1), 0, "normal", []),
        (10, False, days_ago(WINDOW + 5), 0, "urgent", ["claim_window"]),
        # A repeat complaint.
        (10, False, days_ago(2), 1, "urgent", ["repeat"]),
        # Several at once are all named, in the rules' order.
        (5000, True, days_ago(29), 3, "urgent", ["points", "top_tier", "claim_window", "repeat"]),
    ],
)
def test_a_case_is_urgent_exactly_when_a_documented_rule_holds(points, top_tier, occurred, earlier, priority, reasons):
    result = classify(
        points_claimed=points,
        in_top_tier=top_tier,
        occurred_at=occurred,
        claim_window_days=WINDOW,
        earlier_cases=earlier,
        now=NOW,
    )
    assert (result.priority, result.reasons) == (priority, reasons)


def test_the_explanation_names_each_rule_that_made_a_case_urgent():
    result = classify(
        points_claimed=URGENT_POINTS,
        in_top_tier=False,
        occurred_at=None,
        claim_window_days=30,
        earlier_cases=2,
        now=NOW,
    )
    assert explain(result) == (
        f"Classified urgent: the points claimed reach {URGENT_POINTS}; the member opened another case within 90 days."
    )
