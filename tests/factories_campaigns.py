"""Campaign factories: analytics rows and stages written directly, campaigns through the services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty.actors import Actor, Role

MARKETER = Actor(kind="key", name="marketer", role=Role.MARKETER, key_id="key_mkt")


def set_analytics(session, member, *, stage: str | None = None, segment: str | None = None, band: int | None = None):
    """Give a member a lifecycle stage and an analytics row, as the nightly analytics would."""
    from loyalty.analytics.models import MemberAnalytics

    if stage is not None:
        member.lifecycle_stage = stage
    if segment is not None or band is not None:
        session.merge(MemberAnalytics(member_id=member.id, purchases=1, rfm_segment=segment, value_band=band))
    session.flush()


def set_last_purchase(session, member, when: datetime) -> None:
    member.last_purchase_at = when
    session.flush()


def make_campaign(session, *, actor: Actor = MARKETER, **fields: Any):
    """A draft campaign (a 100-point bonus, no control group, no channel unless given)."""
    from loyalty.campaigns.services import create_campaign

    data = {"name": "Winback", "offer": {"type": "bonus", "points": 100}, "control_share_pct": 0, **fields}
    campaign = create_campaign(session, data=data, actor=actor)
    session.flush()
    return campaign


def launch(session, campaign, *, actor: Actor = MARKETER, batch_size: int = 500):
    """Launch now and run the background work to the end in this session (select, then every batch)."""
    from loyalty.campaigns.jobs import select_audience
    from loyalty.campaigns.services import launch_campaign

    launch_campaign(session, campaign_id=campaign.id, actor=actor)
    select_audience(session, campaign_id=campaign.id)
    deliver_all(session, campaign, batch_size=batch_size)
    return campaign


def deliver_all(session, campaign, *, batch_size: int = 500) -> int:
    from loyalty.campaigns.jobs import deliver_batch

    batches = 0
    while (campaign.progress or {}).get("phase") == "delivering":
        deliver_batch(session, campaign_id=campaign.id, batch_size=batch_size)
        batches += 1
        assert batches < 10_000
    return batches
