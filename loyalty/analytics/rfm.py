"""RFM: recency, frequency and monetary scores as rank-based quintiles, and the named segments of the R x FM grid.

Scores run 1..5, 5 the best (most recent, most frequent, highest spend). A
member's score is ``ceil(5 r / N)`` where ``r`` is the 1-based rank of their
value among the N scored members, ascending from the worst, and tied values
all take the rank of the first of them ("min" ranking). So ties always share
a score whatever the order of the rows, a value shared by many members (one
purchase, say) scores where its first holder would, and the single best
value scores 5 however few members there are.

Segments read R against FM, the mean of F and M rounded half up
(``(F + M + 1) // 2``):

======  =============  ====================  ====================  ===================  ===========
R \\ FM  1              2                     3                     4                    5
======  =============  ====================  ====================  ===================  ===========
5       new            potential_loyalists   potential_loyalists   champions            champions
4       promising      potential_loyalists   potential_loyalists   loyal                loyal
3       about_to_sleep about_to_sleep        need_attention        loyal                loyal
2       hibernating    hibernating           at_risk               at_risk              cannot_lose
1       lost           hibernating           at_risk               at_risk              cannot_lose
======  =============  ====================  ====================  ===================  ===========
"""

from __future__ import annotations

import numpy as np

SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose",
    "hibernating",
    "lost",
)

# GRID[r - 1][fm - 1]: rows R = 1..5, columns FM = 1..5.
GRID = (
    ("lost", "hibernating", "at_risk", "at_risk", "cannot_lose"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),
    ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),
)
_GRID_CODES = np.array([[SEGMENTS.index(name) for name in row] for row in GRID], dtype=np.int8)


def quintiles(values: np.ndarray) -> np.ndarray:
    """Rank-based quintile scores 1..5 of ``values``: ``ceil(5 r / N)`` of each value's min rank ``r`` (1-based)."""
    values = np.asarray(values)
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # The 0-based position of the first of each run of equal values, for every position.
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_values[1:] != sorted_values[:-1]
    min_rank = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    scores = np.empty(n, dtype=np.int8)
    scores[order] = (5 * (min_rank + 1) + n - 1) // n
    return scores


def rfm_scores(recency_days: np.ndarray, frequency: np.ndarray, monetary: np.ndarray) -> tuple[np.ndarray, ...]:
    """R, F and M scores: recency scores by fewest days since the last purchase, the others by the largest value."""
    return quintiles(-np.asarray(recency_days)), quintiles(frequency), quintiles(monetary)


def segment_codes(r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The index in ``SEGMENTS`` of each member's segment, from their scores."""
    fm = (np.asarray(f, dtype=np.int64) + np.asarray(m, dtype=np.int64) + 1) // 2
    return _GRID_CODES[np.asarray(r, dtype=np.int64) - 1, fm - 1]


def segment_of(r: int, f: int, m: int) -> str:
    """One member's segment from their scores."""
    return SEGMENTS[int(segment_codes(np.array([r]), np.array([f]), np.array([m]))[0])]
