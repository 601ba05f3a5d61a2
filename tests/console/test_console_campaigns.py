"""Campaign pages without a browser: the estimate without JavaScript, errors beside the form, who may see them."""

from __future__ import annotations

from sqlalchemy import select

from loyalty.campaigns.models import Campaign
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant
from tests.factories_staff import make_staff, post_form, sign_in

FORM = {
    "name": "Spring back",
    "lifecycle_stages": "lapsed",
    "offer_type": "bonus",
    "offer_points": "150",
    "control_share_pct": "20",
    "measure_days": "30",
    "channels": "email",
    "body_en": "150 points for your next visit.",
}


def test_the_estimate_button_counts_the_audience_without_saving(client, db_session):
    for _ in range(3):
        make_member(db_session).lifecycle_stage = "lapsed"
    make_member(db_session)
    db_session.commit()
    sign_in(client, make_staff(db_session, "marketer").email)
    response = post_form(client, "/console/campaigns/new", FORM | {"estimate": "1"}, page="/console/campaigns/new")
    assert response.status_code == 200
    assert '<strong id="audience-size">3 members</strong>' in response.get_data(as_text=True)
    assert db_session.scalar(select(Campaign.id)) is None


def test_a_bad_campaign_comes_back_with_the_error_beside_the_field_and_a_good_one_is_saved(client, db_session):
    sign_in(client, make_staff(db_session, "admin").email)
    bad = post_form(client, "/console/campaigns/new", FORM | {"control_share_pct": "95"}, page="/console/campaigns/new")
    assert bad.status_code == 422
    assert 'id="error-control_share_pct"' in bad.get_data(as_text=True)
    good = post_form(client, "/console/campaigns/new", FORM, page="/console/campaigns/new")
    assert good.status_code == 302
    campaign = db_session.scalar(select(Campaign))
    assert campaign.offer == {"type": "bonus", "points": 150}
    assert campaign.audience == {"lifecycle_stages": ["lapsed"]}
    assert campaign.message == {"en": {"subject": "", "body": "150 points for your next visit."}}
    assert b"Spring back" in client.get("/console/campaigns?q=spring").data


def test_merchant_staff_do_not_see_campaigns(client, db_session):
    merchant = make_merchant(db_session)
    sign_in(client, make_staff(db_session, "merchant", merchant_id=merchant.id).email)
    assert client.get("/console/campaigns").status_code == 403
    assert b"Campaigns" not in client.get(f"/console/merchants/{merchant.id}").data
