"""Staff sign in to the console, and each role sees only what it may."""

from __future__ import annotations

from loyalty.staff.models import StaffUser
from tests.factories_merchants import make_merchant, make_store, make_terminal
from tests.factories_staff import PASSWORD, csrf_token, make_staff, post_form, sign_in


def test_a_page_asks_to_sign_in_first_and_comes_back_after(client, db_session):
    user = make_staff(db_session, "admin")
    response = client.get("/console/audit")
    assert response.status_code == 302
    assert "/console/login?next=/console/audit" in response.headers["Location"]

    signed = sign_in(client, user.email)
    assert signed.status_code == 302
    assert client.get("/console/audit").status_code == 200


def test_a_wrong_password_is_refused_the_same_way_as_an_unknown_email_and_counted(client, db_session):
    user = make_staff(db_session, "marketer")
    wrong = sign_in(client, user.email, "not the password at all")
    unknown = sign_in(client, "nobody@staff.example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert b"The email or the password is wrong." in wrong.data
    assert b"The email or the password is wrong." in unknown.data
    db_session.expire_all()
    assert db_session.get(StaffUser, user.id).failed_attempts == 1
    assert client.get("/console/rules").status_code == 302


def test_sign_in_is_refused_after_five_failures_on_one_account(client, db_session):
    user = make_staff(db_session, "admin")
    for _ in range(5):
        assert sign_in(client, user.email, "wrong password 123").status_code == 401
    assert sign_in(client, user.email).status_code == 429


def test_forms_without_the_csrf_token_are_refused(client, db_session):
    user = make_staff(db_session, "admin")
    response = client.post("/console/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console/audit").status_code == 302


def test_a_merchants_staff_see_their_merchant_and_another_merchants_pages_are_not_found(client, db_session):
    mine, theirs = make_merchant(db_session), make_merchant(db_session)
    my_store, their_store = make_store(db_session, mine.id), make_store(db_session, theirs.id)
    their_terminal, _key, _secret = make_terminal(db_session, their_store.id)
    user = make_staff(db_session, "merchant", merchant_id=mine.id)
    sign_in(client, user.email)

    assert client.get("/console/").headers["Location"].endswith(f"/console/merchants/{mine.id}")
    page = client.get(f"/console/merchants/{mine.id}")
    assert page.status_code == 200 and my_store.name.encode() in page.data
    assert client.get(f"/console/stores/{my_store.id}").status_code == 200

    for url in (
        f"/console/merchants/{theirs.id}",
        f"/console/merchants/{theirs.id}/purchases",
        f"/console/merchants/{theirs.id}/members",
        f"/console/stores/{their_store.id}",
    ):
        assert client.get(url).status_code == 404, url
    rotated = post_form(client, f"/console/terminals/{their_terminal.id}/rotate", {"grace_hours": "0"})
    assert rotated.status_code == 404
    # The operator's pages are not theirs at all.
    for url in ("/console/applications", "/console/audit", "/console/staff", "/console/merchants"):
        assert client.get(url).status_code == 403, url


def test_a_marketer_reaches_rules_but_no_merchant_pages(client, db_session):
    merchant = make_merchant(db_session)
    user = make_staff(db_session, "marketer")
    sign_in(client, user.email)
    assert client.get("/console/rules").status_code == 200
    assert client.get("/console/tiers").status_code == 200
    assert client.get("/console/rewards").status_code == 200
    assert client.get(f"/console/merchants/{merchant.id}").status_code == 403
    assert client.get("/console/audit").status_code == 403


def test_signing_out_ends_the_session(client, db_session):
    user = make_staff(db_session, "admin")
    sign_in(client, user.email)
    page = client.get("/console/audit").get_data(as_text=True)
    client.post("/console/logout", data={"csrf_token": csrf_token(page)})
    assert client.get("/console/audit").status_code == 302


def test_disabling_an_account_signs_it_out_everywhere(client, db_session, app):
    admin = make_staff(db_session, "admin")
    other = make_staff(db_session, "marketer")
    second = app.test_client()
    sign_in(second, other.email)
    assert second.get("/console/rules").status_code == 200

    sign_in(client, admin.email)
    response = post_form(client, f"/console/staff/{other.id}/status", {"status": "disabled"})
    assert response.status_code == 302
    assert second.get("/console/rules").status_code == 302
    assert sign_in(second, other.email).status_code == 401
