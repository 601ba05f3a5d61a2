"""RFM quintiles and segments on small data worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.analytics.rfm import GRID, SEGMENTS, quintiles, rfm_scores, segment_codes, segment_of


def test_ten_distinct_values_make_two_of_each_score():
    assert quintiles(np.array([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])).tolist() == [5, 1, 5, 1, 4, 2, 4, 2, 3, 3]


def test_ties_share_the_score_of_the_first_of_them_whatever_the_row_order():
    # Sorted: 1 1 1 1 1 1 2 3 3 9 -> min ranks 1 1 1 1 1 1 7 8 8 10 -> ceil(5 rank / 10).
    values = np.array([1, 3, 1, 9, 1, 2, 1, 3, 1, 1])
    expected = [1, 4, 1, 5, 1, 4, 1, 4, 1, 1]
    assert quintiles(values).tolist() == expected
    order = np.random.default_rng(0).permutation(values.size)
    assert quintiles(values[order]).tolist() == [expected[i] for i in order]


def test_few_members_still_put_the_best_in_the_top_quintile():
    assert quintiles(np.array([42])).tolist() == [5]
    assert quintiles(np.array([10, 30, 20])).tolist() == [2, 5, 4]
    assert quintiles(np.array([], dtype=np.int64)).tolist() == []


def test_hand_worked_rfm():
    # Five members: days since last purchase, purchases, spend.
    recency = np.array([2, 30, 400, 10, 90])
    frequency = np.array([12, 1, 2, 5, 1])
    monetary = np.array([90_000, 1_500, 4_000, 30_000, 800])
    r, f, m = rfm_scores(recency, frequency, monetary)
    # Recency ranks best-first by fewest days: 400 < 90 < 30 < 10 < 2 -> scores 1..5.
    assert r.tolist() == [5, 3, 1, 4, 2]
    # Frequency: 1, 1 tie at the bottom (score 1), then 2, 5, 12.
    assert f.tolist() == [5, 1, 3, 4, 1]
    assert m.tolist() == [5, 2, 3, 4, 1]
    segments = [SEGMENTS[code] for code in segment_codes(r, f, m)]
    # FM = (F + M + 1) // 2: 5, 2, 3, 4, 1.
    assert segments == ["champions", "about_to_sleep", "at_risk", "loyal", "hibernating"]


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (5, 4, 3, "champions"),  # FM (4 + 3 + 1) // 2 = 4
        (5, 1, 1, "new"),
        (5, 2, 2, "potential_loyalists"),
        (4, 1, 1, "promising"),
        (4, 5, 4, "loyal"),
        (3, 3, 3, "need_attention"),
        (3, 1, 2, "about_to_sleep"),
        (3, 5, 5, "loyal"),
        (2, 4, 3, "at_risk"),
        (1, 5, 5, "cannot_lose"),
        (2, 5, 4, "cannot_lose"),
        (2, 1, 1, "hibernating"),
        (1, 2, 1, "hibernating"),
        (1, 1, 1, "lost"),
    ],
)
def test_segment_grid(r, f, m, segment):
    assert segment_of(r, f, m) == segment


def test_the_grid_names_every_cell_and_uses_every_segment():
    cells = {name for row in GRID for name in row}
    assert cells == set(SEGMENTS)
    assert all(len(row) == 5 for row in GRID) and len(GRID) == 5
