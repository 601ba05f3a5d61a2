"""Getting in and out of the portal: sign up, link or claim a card, log in and out, a forgotten password,
and what keeps it safe: CSRF on every form, rate limits, hardened cookies."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from loyalty.accounts.models import MemberLogin
from loyalty.db import utcnow
from loyalty.logins.models import LoginToken
from loyalty.members.models import Member
from loyalty.notifications.models import Notification
from tests.factories_members import make_member
from tests.portal.helpers import PASSWORD, Visitor, log_in, sign_up


def latest_message(db_session, member_id: str, template: str) -> Notification:
    return db_session.scalars(
        select(Notification)
        .where(Notification.member_id == member_id, Notification.template == template)
        .order_by(Notification.id.desc())
    ).first()


def member_by_email(db_session, email: str) -> Member | None:
    return db_session.scalar(select(Member).where(Member.email == email))


# ---- sign up -----------------------------------------------------------------------------------


def test_signing_up_enrols_a_member_with_a_card_and_signs_them_in(client, db_session):
    visitor = Visitor(client)

    response = sign_up(visitor, "new.member@example.com", name="Mei Lin", language="zh_Hans")

    assert response.headers["Location"].endswith("/portal/")
    member = member_by_email(db_session, "new.member@example.com")
    assert member.name == "Mei Lin" and member.locale == "zh_Hans" and member.card_number
    login = db_session.get(MemberLogin, member.id)
    assert login.password_hash.startswith("$argon2id$") and PASSWORD not in login.password_hash
    home = visitor.get("/portal/")
    assert home.status_code == 200
    assert "Welcome! Your card is ready" in home.get_data(as_text=True)
    assert member.card_number[:4] in home.get_data(as_text=True)


def test_a_weak_password_is_refused_and_nobody_is_enrolled(client, db_session):
    visitor = Visitor(client)

    response = visitor.post(
        "/portal/signup",
        {"email": "weak@example.com", "password": "1234567890", "language": "en"},
        form_from="/portal/signup",
    )

    assert response.status_code == 422
    assert "too easy to guess" in response.get_data(as_text=True)
    assert member_by_email(db_session, "weak@example.com") is None


def test_signing_up_with_the_email_of_a_member_enrolled_at_a_till_links_them_with_a_code(client, db_session):
    enrolled = make_member(db_session, email="till.shopper@example.com", name="Till Shopper")
    visitor = Visitor(client)

    response = sign_up(visitor, "Till.Shopper@example.com")

    assert response.headers["Location"].endswith("/portal/signup/confirm")
    assert visitor.get("/portal/").status_code == 302  # not signed in before the code
    code = latest_message(db_session, enrolled.id, "portal_code").data["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert (
        visitor.post("/portal/signup/confirm", {"code": wrong}, form_from="/portal/signup/confirm").status_code == 422
    )

    response = visitor.post("/portal/signup/confirm", {"code": code}, form_from="/portal/signup/confirm")

    assert response.status_code == 302
    assert db_session.scalar(select(Member).where(Member.email == "till.shopper@example.com")).id == enrolled.id
    assert visitor.get("/portal/").status_code == 200
    assert log_in(Visitor(client), "till.shopper@example.com").status_code == 302


def test_a_card_enrolled_at_a_till_with_only_a_phone_is_claimed_with_a_code_sent_by_text(client, db_session):
    enrolled = make_member(db_session, phone="+447911123456", name="Sam")
    visitor = Visitor(client)

    response = visitor.post("/portal/claim-card", {"card_number": enrolled.card_number}, form_from="/portal/claim-card")
    assert response.status_code == 302
    message = latest_message(db_session, enrolled.id, "portal_code")
    assert message.channel == "sms" and message.recipient == "+447911123456"
    page = visitor.get("/portal/claim-card/confirm").get_data(as_text=True)
    assert "***456" in page and "+447911123456" not in page

    response = visitor.post(
        "/portal/claim-card/confirm",
        {"code": message.data["code"], "email": "sam@example.com", "password": PASSWORD},
    )

    assert response.status_code == 302
    assert db_session.get(Member, enrolled.id, populate_existing=True).email == "sam@example.com"
    assert visitor.get("/portal/").status_code == 200


def test_a_mistyped_card_number_is_refused_with_nothing_sent(client, db_session):
    visitor = Visitor(client)

    response = visitor.post(
        "/portal/claim-card", {"card_number": "6042 0000 0000 0001"}, form_from="/portal/claim-card"
    )

    assert response.status_code == 422
    assert "mistyped" in response.get_data(as_text=True)
    assert db_session.scalar(select(Notification).where(Notification.template == "portal_code")) is None


# ---- log in and out ----------------------------------------------------------------------------


def test_logging_in_with_the_right_password_and_out_again(client, db_session):
    sign_up(Visitor(client), "ana@example.com")
    client.delete_cookie("loyalty_session", domain="portal.test")
    visitor = Visitor(client)

    assert visitor.get("/portal/").headers["Location"].startswith("/portal/login?next=")
    response = log_in(visitor, "ANA@example.com")
    assert response.status_code == 302
    assert visitor.get("/portal/").status_code == 200

    visitor.post("/portal/logout", {}, form_from="/portal/")
    assert visitor.get("/portal/").status_code == 302


def test_a_wrong_password_is_refused_and_counted_on_the_account(client, db_session):
    sign_up(Visitor(client), "counted@example.com")
    visitor = Visitor(client)
    client.delete_cookie("loyalty_session", domain="portal.test")

    response = log_in(visitor, "counted@example.com", "not-the-password")

    assert response.status_code == 422
    assert "The email or the password is wrong." in response.get_data(as_text=True)
    member = member_by_email(db_session, "counted@example.com")
    assert db_session.get(MemberLogin, member.id).failed_attempts == 1
    assert log_in(visitor, "counted@example.com").status_code == 302
    assert db_session.get(MemberLogin, member.id).failed_attempts == 0


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(client):
    visitor = Visitor(client)

    response = log_in(visitor, "nobody@example.com")

    assert response.status_code == 422
    assert "The email or the password is wrong." in response.get_data(as_text=True)


def test_after_logging_in_the_member_returns_to_the_page_asked_for_but_never_to_another_site(client):
    sign_up(Visitor(client), "next@example.com")
    client.delete_cookie("loyalty_session", domain="portal.test")
    visitor = Visitor(client)

    response = visitor.post(
        "/portal/login",
        {"email": "next@example.com", "password": PASSWORD, "next": "/portal/rewards"},
        form_from="/portal/login?next=/portal/rewards",
    )
    assert response.headers["Location"] == "/portal/rewards"

    visitor.post("/portal/logout", {}, form_from="/portal/")
    response = visitor.post(
        "/portal/login",
        {"email": "next@example.com", "password": PASSWORD, "next": "https://evil.example/"},
        form_from="/portal/login",
    )
    assert response.headers["Location"] == "/portal/"


# ---- a forgotten password ----------------------------------------------------------------------


def _reset_link(client, db_session, email: str) -> str:
    visitor = Visitor(client)
    response = visitor.post("/portal/forgot", {"email": email}, form_from="/portal/forgot")
    assert response.headers["Location"].endswith("/portal/forgot/sent")
    member = member_by_email(db_session, email)
    link = latest_message(db_session, member.id, "password_reset").data["link"]
    return re.sub(r"^https?://[^/]+", "", link)


def test_a_reset_link_sets_a_new_password_once_and_signs_out_other_browsers(client, app, db_session):
    other = Visitor(app.test_client())
    sign_up(other, "forgetful@example.com")
    assert other.get("/portal/").status_code == 200
    path = _reset_link(client, db_session, "forgetful@example.com")
    visitor = Visitor(client)

    assert visitor.get(path).status_code == 200
    response = visitor.post(path, {"password": "harbour-lights-9", "confirm": "harbour-lights-9"})

    assert response.status_code == 302
    assert visitor.get("/portal/").status_code == 200
    assert other.get("/portal/").status_code == 302  # the browser signed in before is signed out
    assert visitor.get(path).status_code == 410  # spent
    fresh = Visitor(app.test_client())
    assert log_in(fresh, "forgetful@example.com").status_code == 422
    assert log_in(fresh, "forgetful@example.com", "harbour-lights-9").status_code == 302


def test_an_expired_reset_link_is_refused_and_the_password_stays(client, app, db_session):
    sign_up(Visitor(app.test_client()), "late@example.com")
    path = _reset_link(client, db_session, "late@example.com")
    for token in db_session.scalars(select(LoginToken).where(LoginToken.purpose == "member-reset")):
        token.expires_at = utcnow() - timedelta(minutes=1)
    db_session.commit()
    visitor = Visitor(client)

    page = visitor.get(path)
    assert page.status_code == 410
    assert "This link has expired" in page.get_data(as_text=True)
    response = visitor.post(path, {"password": "harbour-lights-9", "confirm": "harbour-lights-9"}, csrf=False)
    assert response.status_code in (400, 410)
    assert log_in(Visitor(app.test_client()), "late@example.com").status_code == 302


def test_asking_to_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(client, db_session):
    visitor = Visitor(client)

    response = visitor.post("/portal/forgot", {"email": "ghost@example.com"}, form_from="/portal/forgot")

    assert response.headers["Location"].endswith("/portal/forgot/sent")
    assert db_session.scalar(select(Notification).where(Notification.template == "password_reset")) is None


# ---- what keeps it safe ------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(client, db_session):
    visitor = Visitor(client)
    visitor.get("/portal/signup")

    response = visitor.post(
        "/portal/signup", {"email": "forged@example.com", "password": PASSWORD, "language": "en"}, csrf=False
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    response = visitor.post(
        "/portal/signup",
        {"email": "forged@example.com", "password": PASSWORD, "language": "en", "csrf_token": "forged"},
        csrf=False,
    )
    assert response.status_code == 400
    assert member_by_email(db_session, "forged@example.com") is None


def test_a_signed_in_members_forms_need_the_token_too(client, db_session):
    visitor = Visitor(client)
    sign_up(visitor, "victim@example.com")

    response = visitor.post(
        "/portal/profile", {"profile-name": "Mallory", "profile-email": "m@evil.example"}, csrf=False
    )

    assert response.status_code == 400
    assert member_by_email(db_session, "victim@example.com").name == "Ana Costa"


def test_five_failed_logins_on_one_account_lock_it_for_a_while_even_with_the_right_password(client):
    sign_up(Visitor(client), "target@example.com")
    sign_up(Visitor(client), "bystander@example.com")
    attacker = Visitor(client)
    client.delete_cookie("loyalty_session", domain="portal.test")

    answers = [log_in(attacker, "target@example.com", f"guess-number-{n}").status_code for n in range(5)]
    assert answers == [422] * 5
    response = log_in(attacker, "target@example.com")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert log_in(Visitor(client), "bystander@example.com").status_code == 302


def test_many_failed_logins_from_one_address_are_refused_whatever_the_account(app, client):
    attacker = Visitor(app.test_client())
    attacker.client.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    answers = [log_in(attacker, f"user{n}@example.com", "guess-guess-guess").status_code for n in range(31)]

    assert answers[:30] == [422] * 30
    assert answers[30] == 429
    elsewhere = Visitor(client)
    assert log_in(elsewhere, "user1@example.com", "guess-guess-guess").status_code == 422


def test_the_session_cookie_is_secure_http_only_and_same_site(client):
    visitor = Visitor(client)

    response = sign_up(visitor, "cookie@example.com")

    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("loyalty_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_portal_pages_are_not_cached_and_allow_no_outside_resources(client):
    visitor = Visitor(client)
    sign_up(visitor, "headers@example.com")

    response = visitor.get("/portal/")

    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_sending_the_card_form_again_and_again_sends_one_code_a_minute(client, db_session):
    enrolled = make_member(db_session, email="spammed@example.com")
    visitor = Visitor(client)

    for _ in range(4):
        response = visitor.post(
            "/portal/claim-card", {"card_number": enrolled.card_number}, form_from="/portal/claim-card"
        )
        assert response.status_code == 302

    sent = db_session.scalars(
        select(Notification).where(Notification.member_id == enrolled.id, Notification.template == "portal_code")
    ).all()
    assert len(sent) == 1
    response = visitor.post(
        "/portal/claim-card/confirm",
        {"code": sent[0].data["code"], "password": PASSWORD},
        form_from="/portal/claim-card/confirm",
    )
    assert response.status_code == 302


def test_a_code_sent_because_someone_else_typed_the_email_cannot_set_their_password(client, app, db_session):
    enrolled = make_member(db_session, email="owner@example.com")
    owner, attacker = Visitor(client), Visitor(app.test_client())
    sign_up(owner, "owner@example.com", password="harbour-lantern-55")
    sign_up(attacker, "owner@example.com", password="midnight-otter-78")
    latest = latest_message(db_session, enrolled.id, "portal_code").data["code"]

    # The owner types the newest code in their inbox: it was asked for by the other browser.
    response = owner.post("/portal/signup/confirm", {"code": latest}, form_from="/portal/signup/confirm")

    assert response.status_code == 422
    assert db_session.get(MemberLogin, enrolled.id) is None
    assert log_in(Visitor(app.test_client()), "owner@example.com", "midnight-otter-78").status_code == 422
