"""Several campaigns delivering to the same members at once, each on its own connection: the cap holds."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.campaigns.jobs import deliver_batch, select_audience
from loyalty.campaigns.models import Campaign, Contact
from loyalty.campaigns.services import create_campaign, launch_campaign
from loyalty.program.services import get_program
from tests.concurrency import race
from tests.factories_campaigns import MARKETER
from tests.factories_members import make_member

MESSAGE = {"en": {"subject": "Hello", "body": "Double points this week."}}


def test_campaigns_launched_at_once_never_message_a_member_beyond_the_cap(committed):
    with committed() as session:
        program = get_program(session)
        program.contact_cap_count, program.contact_cap_days = 2, 30
        members = [make_member(session, marketing_opt_in=True, phone=f"+35192{n:07d}") for n in range(24)]
        campaign_ids = []
        for n in range(4):
            campaign = create_campaign(
                session,
                data={
                    "name": f"Wave {n}",
                    # A rule offer writes nothing to the member's row: only the batch's lock orders the counts.
                    "offer": {"type": "rule", "rule": {"effect": {"type": "bonus", "points": 10}}},
                    "budget_points": 1000,
                    "control_share_pct": 0,
                    "channels": ["email", "sms"],
                    "message": MESSAGE,
                },
                actor=MARKETER,
            )
            launch_campaign(session, campaign_id=campaign.id, actor=MARKETER)
            select_audience(session, campaign_id=campaign.id)
            campaign_ids.append(campaign.id)
        session.commit()

    def deliver(i: int) -> int:
        batches = 0
        while True:
            with committed() as session:
                deliver_batch(session, campaign_id=campaign_ids[i], batch_size=5)
                phase = session.get(Campaign, campaign_ids[i]).progress["phase"]
                session.commit()
            batches += 1
            if phase != "delivering":
                return batches

    results = race(len(campaign_ids), deliver)
    assert all(isinstance(r, int) for r in results), results
    with committed() as session:
        counts = dict(session.execute(select(Contact.member_id, func.count()).group_by(Contact.member_id)).all())
        # Each member was asked for 8 messages (4 campaigns, 2 channels) and got exactly the cap.
        assert counts == {m.id: 2 for m in members}
        for campaign_id in campaign_ids:
            assert session.get(Campaign, campaign_id).progress["offered"] == len(members)
