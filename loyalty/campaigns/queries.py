"""Reads of campaign membership the purchase path needs (models only: no other area imported)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.campaigns.models import CampaignMember

TREATMENT, CONTROL = "treatment", "control"


def treatment_campaigns(session: Session, member_id: str, campaign_ids: Collection[str]) -> set[str]:
    """Which of ``campaign_ids`` have the member in their treatment group: one primary-key look-up."""
    if not campaign_ids:
        return set()
    return set(
        session.scalars(
            select(CampaignMember.campaign_id).where(
                CampaignMember.member_id == member_id,
                CampaignMember.campaign_id.in_(sorted(campaign_ids)),
                CampaignMember.group == TREATMENT,
            )
        )
    )
