"""A campaign's measured result: treatment against control over its measurement window.

Every member drawn counts in their group, given the offer or not (intention to
treat): the control group is what the treatment group would have done without
the campaign. Purchases counted are those of the group's members from
``starts_at`` for ``measure_days``, net of returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.campaigns import stats
from loyalty.campaigns.models import Campaign, CampaignMember
from loyalty.db import isoformat_z, utcnow
from loyalty.ledger.counters import budget_spent
from loyalty.program.services import get_program
from loyalty.purchases.models import Purchase
from loyalty.rewards.models import Redemption
from loyalty.rewards.services import CANCELLED

GROUPS = ("treatment", "control")


def points_cost(session: Session, campaign: Campaign) -> int:
    """Points the offer has cost: bonuses and rewards granted, less the rewards given back unused (their points
    never reach anyone), or what the campaign's rule gave.

    The budget is not given back with them: ``points_spent`` caps what the campaign may grant, and counts
    every grant."""
    if campaign.offer.get("type") == "rule":
        return budget_spent(session, campaign.rule_id) if campaign.rule_id else 0
    given_back = session.scalar(
        select(func.coalesce(func.sum(Redemption.points), 0)).where(
            Redemption.granted_by_campaign_id == campaign.id, Redemption.status == CANCELLED
        )
    )
    return int(campaign.points_spent) - int(given_back)


def window(campaign: Campaign) -> tuple[datetime | None, datetime | None]:
    if campaign.starts_at is None:
        return None, None
    return campaign.starts_at, campaign.starts_at + timedelta(days=campaign.measure_days)


def _group_figures(session: Session, campaign: Campaign, start: datetime, end: datetime) -> dict[str, np.ndarray]:
    """Per group, every member's net revenue in the window (zeros for those who bought nothing)."""
    members = CampaignMember.__table__
    sizes = dict(
        session.execute(
            select(members.c.group, func.count()).where(members.c.campaign_id == campaign.id).group_by(members.c.group)
        ).all()
    )
    rows = session.execute(
        select(members.c.group, func.sum(Purchase.total_minor - Purchase.returned_minor))
        .join(Purchase, Purchase.member_id == members.c.member_id)
        .where(members.c.campaign_id == campaign.id, Purchase.occurred_at >= start, Purchase.occurred_at < end)
        .group_by(members.c.group, members.c.member_id)
    ).all()
    revenue: dict[str, np.ndarray] = {}
    for group in GROUPS:
        spent = np.array([int(total) for g, total in rows if g == group], dtype=np.float64)
        values = np.zeros(sizes.get(group, 0))
        values[: spent.size] = spent
        revenue[group] = values
    return revenue


def campaign_results(session: Session, campaign: Campaign, *, now: datetime | None = None) -> dict[str, Any]:
    """The result as the API and the console show it (lifts only when the campaign is big enough)."""
    now = now or utcnow()
    start, end = window(campaign)
    program = get_program(session)
    cost = points_cost(session, campaign)
    cost_value = cost * program.redemption_value_minor // program.redemption_points
    body: dict[str, Any] = {
        "campaign_id": campaign.id,
        "status": campaign.status,
        "window": {"from": isoformat_z(start), "to": isoformat_z(end)},
        "complete": end is not None and now >= end,
        "currency": program.currency,
        "points_cost": cost,
        "points_cost_value_minor": cost_value,
        "groups": {},
        "enough_data": False,
        "verdict": None,
        "conversion_lift": None,
        "revenue_lift": None,
        "incremental_revenue_minor": None,
        "return_on_points": None,
    }
    if start is None or campaign.status in ("draft", "scheduled"):
        body["verdict"] = "Not launched yet: there is nothing to measure."
        return body
    revenue = _group_figures(session, campaign, start, end)
    for group in GROUPS:
        values = revenue[group]
        buyers = int(np.count_nonzero(values))
        body["groups"][group] = {
            "members": int(values.size),
            "converted": buyers,
            "conversion": buyers / values.size if values.size else None,
            "revenue_minor": int(values.sum()),
            "revenue_per_member_minor": float(values.mean()) if values.size else None,
        }
    treatment, control = revenue["treatment"], revenue["control"]
    p_control = float(np.count_nonzero(control)) / control.size if control.size else 0.0
    verdict = stats.judge_size(treatment.size, control.size, p_control)
    body["verdict"] = verdict
    if verdict is not None:
        return body
    body["enough_data"] = True
    test = stats.two_proportion_ztest(
        int(np.count_nonzero(treatment)), treatment.size, int(np.count_nonzero(control)), control.size
    )
    body["conversion_lift"] = {
        "difference": test.difference,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "z": test.z,
        "p_value": test.p_value,
    }
    # The seed is the campaign's: its figures do not change from one reading to the next.
    seed = int.from_bytes(campaign.id.encode()[-8:], "big")
    samples = stats.bootstrap_samples(treatment.size, control.size)
    lift = stats.bootstrap_mean_difference(treatment, control, samples=samples, seed=seed)
    body["revenue_lift"] = {
        "difference_minor": lift.difference,
        "ci_low": lift.ci_low,
        "ci_high": lift.ci_high,
        "standard_error": lift.standard_error,
        "resamples": samples,
    }
    incremental = round(lift.difference * treatment.size)
    body["incremental_revenue_minor"] = incremental
    body["return_on_points"] = incremental / cost_value if cost_value > 0 else None
    return body
