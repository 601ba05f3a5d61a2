"""The signed-in member's pages: home, activity, rewards, claims, profile; and nobody else's data."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import func, select

from loyalty.accounts.models import MarketingConsent
from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.db import utcnow
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.purchases.returns import return_purchase
from loyalty.rewards.models import Redemption
from tests.factories_merchants import make_till
from tests.factories_purchases import buy
from tests.factories_rewards import give_points, make_reward
from tests.factories_tiers import set_tiers
from tests.portal.helpers import PASSWORD, Visitor, log_in, sign_up


def signed_up(client, db_session, email: str, **kwargs) -> tuple[Visitor, Member]:
    visitor = Visitor(client)
    sign_up(visitor, email, **kwargs)
    return visitor, db_session.scalar(select(Member).where(Member.email == email))


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


# ---- home --------------------------------------------------------------------------------------


def test_home_shows_available_and_pending_points_what_expires_soon_and_the_card(client, db_session):
    visitor, member = signed_up(client, db_session, "home@example.com")
    _merchant, store, *_ = make_till(db_session)
    buy(db_session, store, member=member, total_minor=4250)  # 42 points, pending 14 days
    give_points(db_session, member, 120, expires_at=utcnow() + timedelta(days=30))

    response = visitor.get("/portal/")
    page = text(response)

    assert "Available 120" in page and "Pending 42" in page
    assert re.search(r"120 points on \w{3} \d{1,2}, \d{4}", page), page
    assert "42 points on" in page  # when the pending points arrive
    html = response.get_data(as_text=True)
    assert '<svg data-width="' in html and 'role="img"' in html and 'class="qr"' in html
    assert " ".join(member.card_number[i : i + 4] for i in range(0, 16, 4)) in page


def test_home_lists_the_latest_activity_with_the_rules_and_the_store_that_earned_it(client, db_session):
    visitor, member = signed_up(client, db_session, "reasons@example.com")
    _merchant, store, *_ = make_till(db_session)
    buy(db_session, store, member=member, total_minor=1000)

    page = text(visitor.get("/portal/"))

    assert f"Purchase at {store.name}" in page
    assert "Rules: One point per euro" in page
    assert "+10" in page


def test_home_shows_the_tier_with_progress_to_the_next_and_its_benefits(client, db_session):
    set_tiers(db_session)
    visitor, member = signed_up(client, db_session, "tier@example.com")
    from tests.factories_tiers import give_points as earn

    earn(db_session, member.id, 400)

    response = visitor.get("/portal/")
    page = text(response)

    assert "Your tier Blue" in page
    assert "400 of 1,000 qualifying points for Silver" in page
    assert "600 more points to reach Silver." in page
    assert "Benefits of Silver" in page and "10% more points on every purchase" in page
    assert '<progress id="tier-progress" max="1000" value="400">' in response.get_data(as_text=True)


def test_the_card_downloads_as_an_svg_qr_code(client, db_session):
    visitor, _member = signed_up(client, db_session, "card@example.com")

    response = visitor.get("/portal/card.svg")

    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")


def test_signed_out_visitors_are_sent_to_log_in_from_every_page(client):
    visitor = Visitor(client)
    for path in ("/portal/", "/portal/activity", "/portal/rewards", "/portal/claims", "/portal/profile"):
        response = visitor.get(path)
        assert response.status_code == 302 and "/portal/login" in response.headers["Location"], path


# ---- activity ----------------------------------------------------------------------------------


def test_activity_is_paginated_and_filtered_by_kind_and_partner(client, db_session):
    visitor, member = signed_up(client, db_session, "activity@example.com")
    _m1, store1, *_ = make_till(db_session)
    _m2, store2, *_ = make_till(db_session)
    for _ in range(20):
        buy(db_session, store1, member=member, total_minor=500)
    for _ in range(10):
        buy(db_session, store2, member=member, total_minor=700)
    give_points(db_session, member, 3)

    first = visitor.get("/portal/activity").get_data(as_text=True)
    assert first.count('<td class="num plus">') == 25
    older = re.search(r'href="(/portal/activity\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = visitor.get(older).get_data(as_text=True)
    assert second.count('<td class="num plus">') == 6

    by_partner = text(visitor.get(f"/portal/activity?merchant={store2.merchant_id}"))
    assert (
        by_partner.count(f"Purchase at {store2.name}") == 10 and store1.name not in by_partner.split("All partners")[1]
    )
    adjustments = text(visitor.get("/portal/activity?kind=adjust"))
    assert "Adjusted by our team: test points" in adjustments and "Purchase at" not in adjustments


def test_a_return_says_which_purchase_it_came_from(client, db_session):
    visitor, member = signed_up(client, db_session, "returns@example.com")
    _merchant, store, *_ = make_till(db_session)
    outcome = buy(db_session, store, member=member, total_minor=2000)
    return_purchase(
        db_session,
        purchase_id=outcome.receipt["id"],
        external_id="RET-1",
        items=None,
        amount_minor=1000,
        fingerprint="RET-1",
        actor=cli_actor(),
    )
    db_session.commit()

    page = text(visitor.get("/portal/activity?kind=return"))

    assert "Goods returned from the purchase of" in page and store.name in page
    assert "\u221210" in page  # a minus sign


# ---- rewards -----------------------------------------------------------------------------------


def test_the_catalog_shows_what_the_member_can_afford_first_and_how_many_points_the_rest_need(client, db_session):
    visitor, member = signed_up(client, db_session, "catalog@example.com")
    give_points(db_session, member, 150)
    dear = make_reward(db_session, points_cost=500, name="Espresso machine")
    cheap = make_reward(db_session, points_cost=100, name="Free coffee")

    page = text(visitor.get("/portal/rewards"))

    assert page.index(cheap.name) < page.index(dear.name)
    assert "350 more points needed." in page
    assert f'href="/portal/rewards/{cheap.id}"' in visitor.page
    assert f'href="/portal/rewards/{dear.id}"' not in visitor.page


def test_redeeming_asks_for_confirmation_then_shows_the_code_with_its_qr(client, db_session):
    visitor, member = signed_up(client, db_session, "redeem@example.com")
    give_points(db_session, member, 150)
    reward = make_reward(db_session, points_cost=100, name="Free coffee")

    confirm = visitor.get(f"/portal/rewards/{reward.id}")
    assert "Yes, redeem for 100 points" in confirm.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Redemption)) == 0
    form_key = re.search(r'name="form_key" type="hidden" value="([^"]+)"', visitor.page).group(1)

    response = visitor.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": form_key})

    assert response.status_code == 302
    redemption = db_session.scalar(select(Redemption).where(Redemption.member_id == member.id))
    assert response.headers["Location"] == f"/portal/redemptions/{redemption.id}"
    page = visitor.get(response.headers["Location"]).get_data(as_text=True)
    assert redemption.code in page and 'class="qr"' in page
    assert "Available 50" in text(visitor.get("/portal/"))
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "redemption.create"))
    assert event.object_id == redemption.id and event.actor_kind == "member"


def test_the_same_redeem_form_sent_twice_redeems_once(client, db_session):
    visitor, member = signed_up(client, db_session, "double@example.com")
    give_points(db_session, member, 300)
    reward = make_reward(db_session, points_cost=100)
    visitor.get(f"/portal/rewards/{reward.id}")
    form_key = re.search(r'name="form_key" type="hidden" value="([^"]+)"', visitor.page).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', visitor.page).group(1)

    first = visitor.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": form_key, "csrf_token": token})
    second = visitor.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": form_key, "csrf_token": token})

    assert first.headers["Location"] == second.headers["Location"]
    assert db_session.scalar(select(func.count()).select_from(Redemption).where(Redemption.member_id == member.id)) == 1
    redeemed = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "redeem")
    assert db_session.scalar(redeemed.where(LedgerEntry.member_id == member.id)) == 1


def test_redeeming_without_enough_points_changes_nothing(client, db_session):
    visitor, member = signed_up(client, db_session, "short@example.com")
    give_points(db_session, member, 50)
    reward = make_reward(db_session, points_cost=100)
    visitor.get("/portal/rewards")

    response = visitor.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": "k" * 24})

    assert response.status_code == 302
    assert "You do not have enough points" in visitor.get(response.headers["Location"]).get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_an_unused_code_is_cancelled_and_its_points_come_back(client, db_session):
    visitor, member = signed_up(client, db_session, "cancel@example.com")
    give_points(db_session, member, 100)
    reward = make_reward(db_session, points_cost=100)
    visitor.get(f"/portal/rewards/{reward.id}")
    form_key = re.search(r'name="form_key" type="hidden" value="([^"]+)"', visitor.page).group(1)
    location = visitor.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": form_key}).headers["Location"]
    visitor.get(location)

    response = visitor.post(f"{location}/cancel", {})

    assert response.status_code == 302
    assert "Cancelled: the 100 points are back in your balance." in visitor.get(location).get_data(as_text=True)
    assert "Available 100" in text(visitor.get("/portal/"))
    history = text(visitor.get("/portal/redemptions"))
    assert "Cancelled" in history


def test_a_campaigns_gift_is_given_back_without_points(client, db_session):
    from tests.factories_campaigns import launch, make_campaign

    visitor, member = signed_up(client, db_session, "gift@example.com")
    give_points(db_session, member, 40)
    reward = make_reward(db_session, points_cost=100, stock=3)
    launch(db_session, make_campaign(db_session, offer={"type": "reward", "reward_id": reward.id}, budget_points=500))
    db_session.commit()
    gift = db_session.scalar(select(Redemption).where(Redemption.member_id == member.id))
    location = f"/portal/redemptions/{gift.id}"

    page = visitor.get(location).get_data(as_text=True)
    assert "Give this gift back (no points come back for it)" in page
    assert "get my 100 points back" not in page
    response = visitor.post(f"{location}/cancel", {})

    assert response.status_code == 302
    after = visitor.get(location).get_data(as_text=True)
    assert "Cancelled" in after and "points are back" not in after
    assert "Available 40" in text(visitor.get("/portal/"))
    assert db_session.get(Redemption, gift.id, populate_existing=True).status == "cancelled"


def test_another_members_redemption_is_not_found_and_cannot_be_cancelled(client, app, db_session):
    owner, owner_member = signed_up(Visitor(app.test_client()).client, db_session, "owner@example.com")
    give_points(db_session, owner_member, 100)
    reward = make_reward(db_session, points_cost=100)
    owner.get(f"/portal/rewards/{reward.id}")
    form_key = re.search(r'name="form_key" type="hidden" value="([^"]+)"', owner.page).group(1)
    location = owner.post(f"/portal/rewards/{reward.id}/redeem", {"form_key": form_key}).headers["Location"]
    intruder, _ = signed_up(client, db_session, "intruder@example.com")

    page = intruder.get(location)
    assert page.status_code == 404
    assert "There is nothing here" in page.get_data(as_text=True)
    redemption = db_session.scalar(select(Redemption).where(Redemption.member_id == owner_member.id))
    assert redemption.code not in page.get_data(as_text=True)
    intruder.get("/portal/")
    assert intruder.post(f"{location}/cancel", {}).status_code == 404
    assert db_session.get(Redemption, redemption.id, populate_existing=True).status == "issued"


# ---- claims ------------------------------------------------------------------------------------


def test_a_purchase_made_without_the_card_is_claimed_once_with_its_receipt_code(client, db_session):
    visitor, _member = signed_up(client, db_session, "claims@example.com")
    _merchant, store, *_ = make_till(db_session)
    code = buy(db_session, store, member=None, total_minor=3000).receipt["claim_code"]

    response = visitor.post(
        "/portal/claims", {"claim_code": code.lower().replace("-", " ")}, form_from="/portal/claims"
    )

    assert response.status_code == 302
    assert "Claimed: 30 points from that purchase are yours." in visitor.get("/portal/claims").get_data(as_text=True)
    assert "Purchase of" in text(visitor.get("/portal/activity?kind=claim"))
    again = visitor.post("/portal/claims", {"claim_code": code}, form_from="/portal/claims")
    assert again.status_code == 422
    assert "already been claimed" in again.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "claim")) == 1


def test_an_unknown_claim_code_is_refused(client, db_session):
    visitor, _member = signed_up(client, db_session, "unknown-claim@example.com")

    response = visitor.post("/portal/claims", {"claim_code": "ABCDE-FGHJK"}, form_from="/portal/claims")

    assert response.status_code == 422
    assert "No purchase has that claim code" in response.get_data(as_text=True)


# ---- profile -----------------------------------------------------------------------------------


def test_the_profile_changes_name_phone_and_language(client, db_session):
    visitor, member = signed_up(client, db_session, "profile@example.com")

    response = visitor.post(
        "/portal/profile",
        {
            "profile-name": "Ana C.",
            "profile-email": "profile@example.com",
            "profile-phone": "+447911123456",
            "profile-language": "zh_Hant",
        },
        form_from="/portal/profile",
    )

    assert response.status_code == 302
    stored = db_session.get(Member, member.id, populate_existing=True)
    assert (stored.name, stored.phone, stored.locale) == ("Ana C.", "+447911123456", "zh_Hant")
    assert "個人資料" in visitor.get("/portal/profile").get_data(as_text=True)


def test_an_invalid_phone_is_refused_in_the_members_language_and_nothing_changes(client, db_session):
    visitor, member = signed_up(client, db_session, "badphone@example.com", language="zh_Hans")

    response = visitor.post(
        "/portal/profile",
        {
            "profile-name": "X",
            "profile-email": "badphone@example.com",
            "profile-phone": "12345",
            "profile-language": "zh_Hans",
        },
        form_from="/portal/profile",
    )

    assert response.status_code == 422
    assert "请输入含国家代码的号码" in response.get_data(as_text=True)
    assert db_session.get(Member, member.id, populate_existing=True).name == "Ana Costa"


def test_marketing_consent_is_kept_per_channel_and_audited(client, db_session):
    visitor, member = signed_up(client, db_session, "consent@example.com")

    visitor.post("/portal/profile/consents", {"consent-email": "y"}, form_from="/portal/profile")

    rows = dict(
        db_session.execute(
            select(MarketingConsent.channel, MarketingConsent.granted).where(MarketingConsent.member_id == member.id)
        ).all()
    )
    assert rows == {"email": True, "sms": False}
    assert db_session.get(Member, member.id, populate_existing=True).marketing_opt_in is True
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "member.consent"))
    assert event.data == {"email": True}

    visitor.post("/portal/profile/consents", {}, form_from="/portal/profile")
    assert db_session.get(Member, member.id, populate_existing=True).marketing_opt_in is False


def test_changing_the_password_needs_the_current_one(client, db_session):
    visitor, _member = signed_up(client, db_session, "change@example.com")

    wrong = visitor.post(
        "/portal/profile/password",
        {"password-current_password": "not-it-at-all", "password-password": "quiet-harbour-77"},
        form_from="/portal/profile",
    )
    assert wrong.status_code == 422 and "The current password is wrong." in wrong.get_data(as_text=True)
    right = visitor.post(
        "/portal/profile/password",
        {"password-current_password": PASSWORD, "password-password": "quiet-harbour-77"},
        form_from="/portal/profile",
    )
    assert right.status_code == 302
    assert visitor.get("/portal/profile").status_code == 200  # this browser stays signed in
    assert (
        log_in(Visitor(client.application.test_client()), "change@example.com", "quiet-harbour-77").status_code == 302
    )


def test_the_data_download_holds_the_members_own_data_and_no_secret(client, db_session):
    visitor, member = signed_up(client, db_session, "export@example.com")
    _other, other_member = signed_up(client.application.test_client(), db_session, "someone.else@example.com")
    _merchant, store, *_ = make_till(db_session)
    buy(db_session, store, member=member, total_minor=1500)
    buy(db_session, store, member=other_member, total_minor=9900)

    response = visitor.get("/portal/profile/export")

    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["member"]["email"] == "export@example.com"
    assert [p["total_minor"] for p in data["purchases"]] == [1500]
    assert {e["kind"] for e in data["activity"]} == {"earn"}
    raw = response.get_data(as_text=True)
    assert "argon2" not in raw and "someone.else" not in raw and other_member.id not in raw


def test_erasing_the_account_clears_personal_data_signs_out_and_stops_the_login(client, db_session):
    visitor, member = signed_up(client, db_session, "erase@example.com")
    give_points(db_session, member, 40)

    refused = visitor.post("/portal/profile/erase", {"password": PASSWORD}, form_from="/portal/profile/erase")
    assert refused.status_code == 422  # the box is not ticked
    response = visitor.post("/portal/profile/erase", {"password": PASSWORD, "understood": "y"})

    assert response.headers["Location"].endswith("/portal/erased")
    stored = db_session.get(Member, member.id, populate_existing=True)
    assert stored.email is None and stored.name is None and stored.card_number is None and stored.status == "closed"
    assert db_session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.member_id == member.id))
    assert visitor.get("/portal/").status_code == 302
    assert log_in(Visitor(client), "erase@example.com").status_code == 422


# ---- language ----------------------------------------------------------------------------------


def test_switching_language_translates_the_pages_and_is_remembered_on_the_account(client, db_session):
    visitor, member = signed_up(client, db_session, "lang@example.com")
    _merchant, store, *_ = make_till(db_session)
    buy(db_session, store, member=member, total_minor=123456)

    response = visitor.post("/portal/language", {"lang": "zh_Hant", "next": "/portal/"}, form_from="/portal/")

    assert response.headers["Location"] == "/portal/"
    page = visitor.get("/portal/").get_data(as_text=True)
    assert '<html lang="zh-Hant">' in page and "您的點數" in page and "1,234" in page
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", page)
    assert db_session.get(Member, member.id, populate_existing=True).locale == "zh_Hant"
    client.delete_cookie("loyalty_session", domain="portal.test")
    client.delete_cookie("portal_lang", domain="portal.test")
    fresh = Visitor(client)
    log_in(fresh, "lang@example.com")
    assert "您的點數" in fresh.get("/portal/").get_data(as_text=True)


def test_a_visitor_who_is_not_signed_in_gets_the_browsers_language_or_the_one_chosen(client):
    visitor = Visitor(client)

    assert "登录" in visitor.get("/portal/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "登入" in visitor.get("/portal/login", headers={"Accept-Language": "zh-TW"}).get_data(as_text=True)
    visitor.post("/portal/language", {"lang": "zh_Hans", "next": "/portal/login"}, form_from="/portal/login")
    assert "登录" in visitor.get("/portal/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_an_address_the_portal_does_not_have_answers_its_own_page(client):
    response = Visitor(client).get("/portal/no/such/page")

    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "There is nothing here" in response.get_data(as_text=True)


def test_the_stylesheet_is_served_by_the_portal_itself(client):
    response = Visitor(client).get("/portal/static/portal.css")

    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "http" not in response.get_data(as_text=True)  # nothing fetched from elsewhere
