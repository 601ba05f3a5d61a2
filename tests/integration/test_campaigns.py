"""Campaigns on the real database: who is drawn, what each group receives, within consent, cap and budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty.accounts.selfservice import set_marketing_consents
from loyalty.campaigns.jobs import deliver_batch, select_audience
from loyalty.campaigns.models import CampaignMember, Contact
from loyalty.campaigns.services import launch_campaign
from loyalty.db import utcnow
from loyalty.ledger.models import LedgerEntry
from loyalty.notifications.models import Notification
from loyalty.program.services import get_program
from tests.factories_campaigns import launch, make_campaign, set_analytics, set_last_purchase
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent

MESSAGE = {"en": {"subject": "We miss you", "body": "Come back for double points."}}


def _members(session, count, **kw):
    return [make_member(session, marketing_opt_in=True, **kw) for _ in range(count)]


def _groups(session, campaign):
    rows = session.execute(
        select(CampaignMember.member_id, CampaignMember.group, CampaignMember.status).where(
            CampaignMember.campaign_id == campaign.id
        )
    ).all()
    return {row.member_id: (row.group, row.status) for row in rows}


def _bonus_points(session, member_id):
    return session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.member_id == member_id, LedgerEntry.kind == "adjust"
        )
    )


def test_the_audience_is_the_members_the_filter_selects_and_never_a_closed_or_erased_one(db_session):
    at_risk = _members(db_session, 3)
    lapsed_champion = make_member(db_session)
    other = make_member(db_session)
    closed = make_member(db_session)
    for member in at_risk:
        set_analytics(db_session, member, stage="at_risk", segment="champions", band=5)
    set_analytics(db_session, lapsed_champion, stage="lapsed", segment="champions", band=4)
    set_analytics(db_session, other, stage="growth")
    set_analytics(db_session, closed, stage="at_risk", segment="champions", band=5)
    closed.status = "closed"
    db_session.flush()

    campaign = make_campaign(
        db_session, audience={"lifecycle_stages": ["at_risk", "lapsed"], "rfm_segments": ["champions"]}
    )
    launch(db_session, campaign)

    assert set(_groups(db_session, campaign)) == {m.id for m in at_risk} | {lapsed_champion.id}
    assert campaign.audience_size == 4
    assert campaign.progress["phase"] == "delivered"
    assert campaign.progress["offered"] == 4


def test_members_without_analytics_match_no_segment_filter_and_never_buyers_no_days_filter(db_session):
    analysed, bare = make_member(db_session), make_member(db_session)
    set_analytics(db_session, analysed, band=2)
    recent, old, never = make_member(db_session), make_member(db_session), make_member(db_session)
    set_last_purchase(db_session, recent, utcnow() - timedelta(days=3))
    set_last_purchase(db_session, old, utcnow() - timedelta(days=90))

    from loyalty.campaigns.audience import count_audience

    assert count_audience(db_session, {"value_bands": [1, 2, 3, 4, 5]}) == 1
    assert count_audience(db_session, {"days_since_last_purchase": {"min": 30}}) == 1
    assert count_audience(db_session, {"days_since_last_purchase": {"max": 10}}) == 1
    assert count_audience(db_session, {"days_since_last_purchase": {"min": 0, "max": 365}}) == 2
    assert bare.id and never.id


def test_control_members_never_receive_the_offer_or_a_message(db_session):
    members = _members(db_session, 60)
    campaign = make_campaign(db_session, control_share_pct=50, channels=["email"], message=MESSAGE)
    launch(db_session, campaign, batch_size=7)

    groups = _groups(db_session, campaign)
    control = [m for m, (group, _) in groups.items() if group == "control"]
    treatment = [m for m, (group, _) in groups.items() if group == "treatment"]
    assert len(groups) == len(members)
    assert control and treatment  # 60 members at 50%: both groups are far from empty
    for member_id in control:
        assert groups[member_id][1] == "held_out"
        assert _bonus_points(db_session, member_id) == 0
    assert not db_session.scalars(select(Contact).where(Contact.member_id.in_(control))).all()
    campaign_notes = select(Notification).where(Notification.template == "campaign_message")
    assert not db_session.scalars(campaign_notes.where(Notification.member_id.in_(control))).all()
    assert len(db_session.scalars(campaign_notes).all()) == len(treatment)
    for member_id in treatment:
        assert groups[member_id][1] == "offered"
        assert _bonus_points(db_session, member_id) == 100
        assert_ledger_consistent(db_session, member_id)
    assert campaign.points_spent == 100 * len(treatment)


def test_assignment_is_stable_a_new_draw_of_the_same_campaign_puts_everyone_in_the_same_group(db_session):
    _members(db_session, 40)
    campaign = make_campaign(db_session, control_share_pct=30)
    launch_campaign(db_session, campaign_id=campaign.id, actor=MARKETER_ACTOR())
    select_audience(db_session, campaign_id=campaign.id)
    first = _groups(db_session, campaign)
    db_session.execute(CampaignMember.__table__.delete().where(CampaignMember.campaign_id == campaign.id))
    campaign.progress = {"phase": "selecting"}
    db_session.flush()
    select_audience(db_session, campaign_id=campaign.id)
    assert {m: g for m, (g, _) in _groups(db_session, campaign).items()} == {m: g for m, (g, _) in first.items()}


def MARKETER_ACTOR():
    from tests.factories_campaigns import MARKETER

    return MARKETER


def test_consent_is_respected_per_channel(db_session):
    both = make_member(db_session, marketing_opt_in=True, phone="+351910000001", email="both@example.com")
    email_only = make_member(db_session, marketing_opt_in=True, phone="+351910000002", email="email_only@example.com")
    set_marketing_consents(db_session, member_id=email_only.id, granted={"email": True, "sms": False})
    none = make_member(db_session, marketing_opt_in=False, phone="+351910000003", email="none@example.com")
    campaign = make_campaign(db_session, channels=["email", "sms"], message=MESSAGE)
    launch(db_session, campaign)

    sent = {
        (c.member_id, c.channel) for c in db_session.scalars(select(Contact).where(Contact.campaign_id == campaign.id))
    }
    assert sent == {(both.id, "email"), (both.id, "sms"), (email_only.id, "email")}
    notes = db_session.scalars(select(Notification).where(Notification.template == "campaign_message")).all()
    assert {(n.member_id, n.channel) for n in notes} == sent
    # Without consent the offer still counts (the member is in the treatment group), the message does not.
    assert _bonus_points(db_session, none.id) == 100


def test_the_contact_cap_holds_across_overlapping_campaigns(db_session):
    program = get_program(db_session)
    program.contact_cap_count, program.contact_cap_days = 2, 30
    members = _members(db_session, 5)
    for n in range(4):
        campaign = make_campaign(db_session, name=f"Wave {n}", channels=["email"], message=MESSAGE)
        launch(db_session, campaign)
    counts = dict(db_session.execute(select(Contact.member_id, func.count()).group_by(Contact.member_id)).all())
    assert counts == {m.id: 2 for m in members}


def test_two_campaigns_delivering_in_interleaved_batches_never_pass_the_cap(db_session):
    program = get_program(db_session)
    program.contact_cap_count = 3
    members = _members(db_session, 9)
    first = make_campaign(db_session, name="A", channels=["email", "webhook"], message=MESSAGE)
    second = make_campaign(db_session, name="B", channels=["email", "webhook"], message=MESSAGE)
    for campaign in (first, second):
        launch_campaign(db_session, campaign_id=campaign.id, actor=MARKETER_ACTOR())
        select_audience(db_session, campaign_id=campaign.id)
    while "delivering" in (first.progress["phase"], second.progress["phase"]):
        for campaign in (first, second):
            deliver_batch(db_session, campaign_id=campaign.id, batch_size=2)
    counts = dict(db_session.execute(select(Contact.member_id, func.count()).group_by(Contact.member_id)).all())
    assert counts == {m.id: 3 for m in members}


def test_the_budget_is_never_exceeded(db_session):
    _members(db_session, 10)
    campaign = make_campaign(db_session, budget_points=350)
    launch(db_session, campaign, batch_size=4)
    statuses = [status for _, status in _groups(db_session, campaign).values()]
    assert statuses.count("offered") == 3
    assert statuses.count("over_budget") == 7
    assert campaign.points_spent == 300
    total = db_session.scalar(select(func.sum(LedgerEntry.points)).where(LedgerEntry.kind == "adjust"))
    assert total == 300


def test_running_a_batch_again_gives_nothing_twice(db_session):
    members = _members(db_session, 6)
    campaign = make_campaign(db_session, channels=["email"], message=MESSAGE)
    launch(db_session, campaign, batch_size=4)
    contacts = db_session.scalar(select(func.count()).select_from(Contact))
    # A retried job (after a crash, or sent twice) finds no member left to give to.
    deliver_batch(db_session, campaign_id=campaign.id, batch_size=4)
    deliver_batch(db_session, campaign_id=campaign.id, batch_size=4)
    select_audience(db_session, campaign_id=campaign.id)
    assert db_session.scalar(select(func.count()).select_from(Contact)) == contacts == 6
    for member in members:
        assert _bonus_points(db_session, member.id) == 100
    assert campaign.points_spent == 600


def test_a_reward_offer_issues_a_code_at_no_cost_to_the_member(db_session):
    from loyalty.rewards.models import Redemption
    from tests.factories_rewards import make_reward

    member = make_member(db_session)
    reward = make_reward(db_session, points_cost=250, stock=5)
    campaign = make_campaign(db_session, offer={"type": "reward", "reward_id": reward.id}, budget_points=1000)
    launch(db_session, campaign)
    redemption = db_session.scalar(select(Redemption).where(Redemption.member_id == member.id))
    assert redemption is not None and redemption.status == "issued"
    from loyalty.ledger import services as ledger

    assert ledger.balance(db_session, member).available == 0
    assert campaign.points_spent == 250
    assert_ledger_consistent(db_session, member.id)


def test_a_gift_cancelled_frees_its_stock_and_gives_no_points_while_a_bought_reward_gives_them_back(db_session):
    from loyalty.accounts.selfservice import cancel
    from loyalty.ledger import services as ledger
    from loyalty.rewards.models import Redemption, Reward
    from tests.factories_rewards import give_points, make_reward

    member = make_member(db_session)
    give_points(db_session, member, 300)
    reward = make_reward(db_session, points_cost=250, stock=5)
    campaign = make_campaign(db_session, offer={"type": "reward", "reward_id": reward.id}, budget_points=1000)
    launch(db_session, campaign)
    gift = db_session.scalar(select(Redemption).where(Redemption.member_id == member.id))
    assert gift.granted_by_campaign_id == campaign.id

    from loyalty.campaigns.results import points_cost

    assert points_cost(db_session, campaign) == 250
    cancel(db_session, member_id=member.id, redemption_id=gift.id)

    assert gift.status == "cancelled"
    assert db_session.get(Reward, reward.id).issued == 0
    # The campaign's cost leaves the gift out (its points never reached anyone); its budget still counts it.
    assert points_cost(db_session, campaign) == 0
    assert campaign.points_spent == 250
    assert ledger.balance(db_session, member).available == 300  # as before the gift: no points from nothing
    kinds = db_session.scalars(select(LedgerEntry.kind).where(LedgerEntry.member_id == member.id)).all()
    assert "redeem_cancel" not in kinds
    assert_ledger_consistent(db_session, member.id)

    # The same reward bought with the member's own points: cancelling gives them back.
    from loyalty.accounts.services import member_actor
    from loyalty.rewards.services import redeem_reward

    bought = redeem_reward(
        db_session,
        member_id=member.id,
        reward_id=reward.id,
        idempotency_key=f"campaign:{campaign.id}-own",
        fingerprint="f",
        actor=member_actor(member.id),
    )
    assert ledger.balance(db_session, member).available == 50
    cancel(db_session, member_id=member.id, redemption_id=bought.receipt["id"])
    assert ledger.balance(db_session, member).available == 300
    assert_ledger_consistent(db_session, member.id)


@pytest.mark.parametrize("share", [0, 90])
def test_the_control_share_bounds_are_accepted(db_session, share):
    _members(db_session, 3)
    campaign = make_campaign(db_session, control_share_pct=share)
    launch(db_session, campaign)
    groups = {g for g, _ in _groups(db_session, campaign).values()}
    if share == 0:
        assert groups == {"treatment"}


def test_a_campaign_rule_fires_only_for_the_treatment_group_and_its_budget_is_the_campaigns(db_session):
    from loyalty.earning.ruleset import active_ruleset
    from tests.factories_merchants import make_till
    from tests.factories_purchases import buy

    _merchant, store, *_ = make_till(db_session)
    members = _members(db_session, 30)
    outsider = make_member(db_session)
    outsider.lifecycle_stage = "growth"
    for member in members:
        member.lifecycle_stage = "at_risk"
    db_session.flush()
    campaign = make_campaign(
        db_session,
        audience={"lifecycle_stages": ["at_risk"]},
        control_share_pct=50,
        budget_points=100,
        offer={"type": "rule", "rule": {"effect": {"type": "bonus", "points": 40}}},
    )
    launch(db_session, campaign)
    assert campaign.rule_id is not None
    groups = _groups(db_session, campaign)
    treatment = [m for m in members if groups[m.id][0] == "treatment"]
    control = [m for m in members if groups[m.id][0] == "control"]
    assert treatment and control

    def campaign_points(member):
        outcome = buy(db_session, store, member=member, rules=active_ruleset(db_session), total_minor=1000)
        return sum(line["points"] for line in outcome.receipt["breakdown"] if line["rule_id"] == campaign.rule_id)

    def quoted(member, explain):
        from loyalty.actors import cli_actor
        from loyalty.earning.quotes import quote_purchase

        quote = quote_purchase(
            db_session,
            store_id=store.id,
            member={"member_id": member.id},
            occurred_at=None,
            currency="EUR",
            total_minor=1000,
            items=[],
            explain=explain,
            actor=cli_actor(),
        )
        return [line.rule_id for line in quote.breakdown]

    # Quotes, explained or not, show the campaign's rule to the treatment group only.
    for explain in (False, True):
        assert campaign.rule_id in quoted(treatment[0], explain)
        assert campaign.rule_id not in quoted(control[0], explain)
    assert campaign_points(control[0]) == 0
    assert campaign_points(outsider) == 0
    assert campaign_points(treatment[0]) == 40
    assert campaign_points(treatment[0]) == 40
    # 80 of the 100 points are spent: the next 40 would pass the budget, so the rule does not fire.
    assert campaign_points(treatment[-1] if len(treatment) > 1 else treatment[0]) == 0

    from loyalty.campaigns.results import points_cost

    assert points_cost(db_session, campaign) == 80


def test_results_compare_the_groups_over_the_window_and_give_the_lift_with_its_intervals(db_session):
    from loyalty.campaigns import stats
    from loyalty.campaigns.results import campaign_results
    from tests.factories_merchants import make_till
    from tests.factories_purchases import buy

    _merchant, store, *_ = make_till(db_session)
    # About 350 a group: enough to detect a lift of 10 points in conversion (docs/campaigns.md).
    members = _members(db_session, 700)
    campaign = make_campaign(db_session, control_share_pct=50, offer={"type": "bonus", "points": 100})
    launch(db_session, campaign)
    groups = _groups(db_session, campaign)
    treatment = [m for m in members if groups[m.id][0] == "treatment"]
    control = [m for m in members if groups[m.id][0] == "control"]
    # Half the treatment group buys for 20.00 (one of them twice), a fifth of the control group for 10.00.
    buyers_t, buyers_c = treatment[: len(treatment) // 2], control[: len(control) // 5]
    for member in buyers_t:
        buy(db_session, store, member=member, total_minor=2000)
    buy(db_session, store, member=buyers_t[0], total_minor=500)
    for member in buyers_c:
        buy(db_session, store, member=member, total_minor=1000)
    # A purchase after the window does not count.
    later = campaign.starts_at + timedelta(days=campaign.measure_days, seconds=1)
    buy(db_session, store, member=control[-1], total_minor=99_999, occurred_at=later)

    result = campaign_results(db_session, campaign)
    t, c = result["groups"]["treatment"], result["groups"]["control"]
    assert (t["members"], t["converted"]) == (len(treatment), len(buyers_t))
    assert (c["members"], c["converted"]) == (len(control), len(buyers_c))
    assert t["revenue_minor"] == 2000 * len(buyers_t) + 500
    assert c["revenue_minor"] == 1000 * len(buyers_c)
    assert result["enough_data"] is True and result["verdict"] is None
    expected = stats.two_proportion_ztest(len(buyers_t), len(treatment), len(buyers_c), len(control))
    assert result["conversion_lift"]["difference"] == pytest.approx(expected.difference)
    assert result["conversion_lift"]["p_value"] == pytest.approx(expected.p_value)
    lift = result["revenue_lift"]
    assert lift["difference_minor"] == pytest.approx(t["revenue_per_member_minor"] - c["revenue_per_member_minor"])
    assert lift["ci_low"] < lift["difference_minor"] < lift["ci_high"]
    assert result["points_cost"] == 100 * len(treatment)
    # 100 points are worth 1.00 at the default rate: the cost in minor units equals the points.
    assert result["points_cost_value_minor"] == 100 * len(treatment)
    assert result["incremental_revenue_minor"] == round(lift["difference_minor"] * len(treatment))
    assert result["return_on_points"] == pytest.approx(result["incremental_revenue_minor"] / (100 * len(treatment)))
    assert campaign_results(db_session, campaign) == result  # the bootstrap's seed is the campaign's
