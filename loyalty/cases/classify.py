"""How a missing-points case is classified: urgent or normal, by a few plain rules.

A case is urgent when any rule below holds; each rule that holds is named in the
reasons (kept in the case's audit event and its first note), so staff see why.

- ``points``: the points claimed reach ``URGENT_POINTS``; a large claim is worth a
  prompt look, whichever way it goes.
- ``top_tier``: the member holds the program's top tier (one that needs qualifying
  points): the members the program most wants to keep.
- ``claim_window``: the purchase happened long enough ago that at most
  ``CLAIM_WINDOW_MARGIN_DAYS`` of the program's claim window are left (or it has
  closed): the member can no longer fix it themselves, or soon cannot.
- ``repeat``: the member opened another case within ``REPEAT_DAYS``: a second
  complaint is one too many to leave waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

URGENT = "urgent"
NORMAL = "normal"
PRIORITIES = (URGENT, NORMAL)

URGENT_POINTS = 1000
CLAIM_WINDOW_MARGIN_DAYS = 7
REPEAT_DAYS = 90


@dataclass(frozen=True)
class Classification:
    priority: str
    reasons: list[str] = field(default_factory=list)


def classify(
    *,
    points_claimed: int | None,
    in_top_tier: bool,
    occurred_at: datetime | None,
    claim_window_days: int,
    earlier_cases: int,
    now: datetime,
) -> Classification:
    """Urgent when any documented rule holds, with the rules that did; normal otherwise."""
    reasons: list[str] = []
    if points_claimed is not None and points_claimed >= URGENT_POINTS:
        reasons.append("points")
    if in_top_tier:
        reasons.append("top_tier")
    if occurred_at is not None:
        window_ends = occurred_at + timedelta(days=claim_window_days)
        if window_ends - now <= timedelta(days=CLAIM_WINDOW_MARGIN_DAYS):
            reasons.append("claim_window")
    if earlier_cases > 0:
        reasons.append("repeat")
    return Classification(priority=URGENT if reasons else NORMAL, reasons=reasons)


REASON_TEXT = {
    "points": f"the points claimed reach {URGENT_POINTS}",
    "top_tier": "the member holds the top tier",
    "claim_window": f"at most {CLAIM_WINDOW_MARGIN_DAYS} days of the claim window are left",
    "repeat": f"the member opened another case within {REPEAT_DAYS} days",
}


def explain(classification: Classification) -> str:
    """One sentence for the case's first note."""
    if not classification.reasons:
        return "Classified normal: no rule for urgent cases applies."
    return "Classified urgent: " + "; ".join(REASON_TEXT[r] for r in classification.reasons) + "."
