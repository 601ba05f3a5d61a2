"""What staff do in the console: applications, terminals, staff accounts, password resets, rules, the audit trail."""

from __future__ import annotations

import re

from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from loyalty.earning.models import Rule
from loyalty.merchants.models import MerchantApplication, TerminalSecret
from loyalty.notifications.models import Notification
from loyalty.staff.models import StaffUser
from tests.factories_merchants import make_application, make_merchant, make_store, make_terminal
from tests.factories_staff import PASSWORD, csrf_token, make_staff, post_form, sign_in


def test_an_admin_approves_an_application_and_sees_the_merchant_key_once(client, db_session):
    application = make_application(db_session, name="Quay Books")
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    listing = client.get("/console/applications")
    assert b"Quay Books" in listing.data

    response = post_form(client, f"/console/applications/{application.id}/approve", page="/console/applications")
    assert response.status_code == 200
    key = re.search(r'id="merchant-key">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/program", headers={"Authorization": f"Bearer {key}"}).status_code in (200, 403)
    db_session.expire_all()
    assert db_session.get(MerchantApplication, application.id).status == "approved"
    # Deciding twice is refused, and changes nothing.
    again = post_form(client, f"/console/applications/{application.id}/approve")
    assert again.status_code == 409


def test_merchant_staff_rotate_a_terminal_secret_shown_once_and_the_change_is_audited(client, db_session):
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id)
    terminal, _key, old_secret = make_terminal(db_session, store.id, name="Till 7")
    user = make_staff(db_session, "merchant", merchant_id=merchant.id)
    sign_in(client, user.email)

    response = post_form(client, f"/console/terminals/{terminal.id}/rotate", {"grace_hours": "0"})
    assert response.status_code == 200
    secret = re.search(r'id="signing-secret">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert secret.startswith("lss_") and secret != old_secret
    # Shown once: the store's page does not show it again.
    assert secret.encode() not in client.get(f"/console/stores/{store.id}").data
    db_session.expire_all()
    secrets = db_session.scalars(select(TerminalSecret).where(TerminalSecret.terminal_id == terminal.id)).all()
    assert len(secrets) == 2
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "terminal.rotate_secret"))
    assert event.actor_kind == "staff" and event.actor_name == user.email and event.merchant_id == merchant.id


def test_merchant_staff_add_a_store_and_a_terminal_and_bad_input_changes_nothing(client, db_session):
    merchant = make_merchant(db_session)
    user = make_staff(db_session, "merchant", merchant_id=merchant.id)
    sign_in(client, user.email)
    bad = post_form(client, f"/console/merchants/{merchant.id}/stores", {"name": "Dock", "timezone": "Mars/Base"})
    assert bad.status_code == 422
    made = post_form(client, f"/console/merchants/{merchant.id}/stores", {"name": "Dock", "timezone": "Europe/Paris"})
    assert made.status_code == 302
    store_url = made.headers["Location"]
    added = post_form(client, store_url.replace("/console/stores/", "/console/stores/") + "/terminals", {"name": "T1"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200
    assert re.search(r'id="terminal-key">[^<]+<', html) and re.search(r'id="signing-secret">lss_[^<]+<', html)


def test_an_admin_creates_staff_who_set_their_password_through_a_one_time_link(client, db_session, app):
    merchant = make_merchant(db_session)
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    response = post_form(
        client,
        "/console/staff",
        {"email": "Till.Lead@Shop.example.com", "name": "Till Lead", "role": "merchant", "merchant_id": merchant.id},
        page="/console/staff",
    )
    assert response.status_code == 200
    user = db_session.scalar(select(StaffUser).where(StaffUser.email == "till.lead@shop.example.com"))
    assert user.merchant_id == merchant.id and user.password_hash is None
    link = db_session.scalar(select(Notification).where(Notification.recipient == user.email)).data["link"]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]

    newcomer = app.test_client()
    form = newcomer.get(path)
    assert form.status_code == 200
    token = csrf_token(form.get_data(as_text=True))
    short = newcomer.post(path, data={"password": "short", "confirm": "short", "csrf_token": token})
    assert short.status_code == 422
    done = newcomer.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": token})
    assert done.status_code == 200
    assert sign_in(newcomer, user.email).status_code == 302
    # The link works once.
    assert newcomer.get(path).status_code == 400


def test_a_merchant_staff_account_needs_its_merchant(client, db_session):
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    response = post_form(
        client,
        "/console/staff",
        {"email": "x@staff.example.com", "name": "X", "role": "merchant"},
        page="/console/staff",
    )
    assert response.status_code == 422
    assert db_session.scalar(select(StaffUser).where(StaffUser.email == "x@staff.example.com")) is None


def test_the_forgotten_password_form_says_the_same_for_unknown_addresses(client, db_session):
    user = make_staff(db_session, "marketer")
    token = csrf_token(client.get("/console/password/forgot").get_data(as_text=True))
    known = client.post("/console/password/forgot", data={"email": user.email, "csrf_token": token})
    unknown = client.post("/console/password/forgot", data={"email": "who@staff.example.com", "csrf_token": token})
    assert known.status_code == unknown.status_code == 200
    assert known.data == unknown.data
    assert db_session.scalar(select(Notification).where(Notification.recipient == user.email)) is not None


def test_the_rule_editor_checks_a_draft_without_saving_it(client, db_session):
    user = make_staff(db_session, "marketer")
    sign_in(client, user.email)
    page = client.get("/console/rules/new").get_data(as_text=True)
    token = csrf_token(page)
    bad = client.post(
        "/console/rules/check",
        data={
            "name": "Broken",
            "condition": "purchase.nonsense > 3",
            "effect_type": "bonus",
            "effect_points": "5",
            "csrf_token": token,
        },
    )
    assert bad.json["ok"] is False and "condition" in bad.json["errors"]
    good = client.post(
        "/console/rules/check",
        data={
            "name": "Coffee",
            "condition": '"coffee" in purchase.categories',
            "effect_type": "bonus",
            "effect_points": "5",
            "csrf_token": token,
        },
    )
    assert good.json == {"ok": True, "message": "The rule is valid.", "errors": {}}
    assert db_session.scalar(select(Rule)) is None


def test_a_marketer_saves_a_draft_simulates_it_and_activates_it(client, db_session):
    user = make_staff(db_session, "marketer")
    sign_in(client, user.email)
    token = csrf_token(client.get("/console/rules/new").get_data(as_text=True))
    invalid = client.post(
        "/console/rules/new",
        data={"name": "", "effect_type": "bonus", "effect_points": "5", "csrf_token": token},
    )
    assert invalid.status_code == 422
    saved = client.post(
        "/console/rules/new",
        data={
            "name": "Welcome bonus",
            "effect_type": "bonus",
            "effect_points": "25",
            "priority": "10",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 302
    rule_url = saved.headers["Location"]
    rule_id = rule_url.rsplit("/", 1)[1]
    simulated = post_form(client, f"/console/rules/{rule_id}/simulate", page=rule_url)
    assert simulated.status_code == 200
    assert b'id="simulated-cost"' in simulated.data
    activated = post_form(client, f"/console/rules/{rule_id}/activate", page=rule_url)
    assert activated.status_code == 302
    db_session.expire_all()
    assert db_session.get(Rule, rule_id).status == "active"


def test_the_audit_trail_filters_by_actor_action_and_object(client, db_session):
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id, name="Audited store")
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    by_action = client.get("/console/audit?action=store.create").get_data(as_text=True)
    assert store.id in by_action
    by_prefix = client.get("/console/audit?action=store.").get_data(as_text=True)
    assert store.id in by_prefix
    by_actor = client.get(f"/console/audit?actor={admin.email}").get_data(as_text=True)
    assert store.id not in by_actor and "staff_user.create" not in by_actor
    by_object = client.get(f"/console/audit?object_type=store&object_id={store.id}").get_data(as_text=True)
    assert "store.create" in by_object


def test_an_admin_sets_a_merchants_funding_and_tops_it_up_and_its_staff_only_read_it(client, db_session, app):
    from loyalty.settlement.models import MerchantFunding

    merchant = make_merchant(db_session)
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    page = f"/console/merchants/{merchant.id}/funding"
    bad = post_form(client, page, {"issue_price_minor": "5", "issue_per_points": "0"}, page=page)
    assert bad.status_code == 422
    saved = post_form(
        client,
        page,
        {
            "issue_price_minor": "5",
            "issue_per_points": "10",
            "prepaid": "on",
            "warn_below": "100",
            "when_exhausted": "stop",
        },
        page=page,
    )
    assert saved.status_code == 302
    assert post_form(client, f"{page}/top-up", {"points": "500", "amount_minor": "250"}, page=page).status_code == 302
    db_session.expire_all()
    funding = db_session.get(MerchantFunding, merchant.id)
    assert (funding.issue_price_minor, funding.issue_per_points, funding.prepaid) == (5, 10, True)
    assert (funding.prepaid_balance, funding.when_exhausted, funding.warn_below) == (500, "stop", 100)

    staff_client = app.test_client()
    staff = make_staff(db_session, "merchant", merchant_id=merchant.id)
    sign_in(staff_client, staff.email)
    shown = staff_client.get(page)
    assert shown.status_code == 200 and b'id="prepaid-balance">500<' in shown.data
    refused = post_form(staff_client, f"{page}/top-up", {"points": "500"}, page=page)
    assert refused.status_code == 403


def test_merchant_staff_read_and_download_their_statements_and_not_anothers(client, db_session):
    from tests.api.test_authorization import close_this_month

    mine, theirs = make_merchant(db_session), make_merchant(db_session)
    my_statement, their_statement = close_this_month(db_session, mine.id), close_this_month(db_session, theirs.id)
    user = make_staff(db_session, "merchant", merchant_id=mine.id)
    sign_in(client, user.email)
    listing = client.get(f"/console/merchants/{mine.id}/statements")
    assert listing.status_code == 200 and my_statement.id.encode() in listing.data
    page = client.get(f"/console/statements/{my_statement.id}")
    assert page.status_code == 200 and b'id="net"' in page.data
    download = client.get(f"/console/statements/{my_statement.id}.csv")
    assert download.status_code == 200 and download.data.startswith(b"entry_id,created_at,kind")
    assert client.get(f"/console/statements/{their_statement.id}").status_code == 404
    assert client.get(f"/console/statements/{their_statement.id}.csv").status_code == 404
    assert client.get(f"/console/merchants/{theirs.id}/statements").status_code == 404


def test_a_large_simulation_runs_in_the_background_and_its_page_shows_the_progress(client, db_session, app, run_jobs):
    from tests.factories_members import make_member
    from tests.factories_purchases import buy

    store = make_store(db_session, make_merchant(db_session).id)
    for _ in range(3):
        buy(db_session, store, member=make_member(db_session), total_minor=2000)
    user = make_staff(db_session, "marketer")
    sign_in(client, user.email)
    token = csrf_token(client.get("/console/rules/new").get_data(as_text=True))
    saved = client.post(
        "/console/rules/new",
        data={"name": "Big spender", "effect_type": "bonus", "effect_points": "7", "csrf_token": token},
    )
    rule_url = saved.headers["Location"]
    limit = app.config["SIMULATION_SYNC_LIMIT"]
    app.config["SIMULATION_SYNC_LIMIT"] = 1  # more purchases than this run in the background
    try:
        queued = post_form(client, f"{rule_url}/simulate", page=rule_url)
    finally:
        app.config["SIMULATION_SYNC_LIMIT"] = limit
    assert queued.status_code == 302 and "/console/simulations/" in queued.headers["Location"]
    progress = client.get(queued.headers["Location"])
    html = progress.get_data(as_text=True)
    assert progress.status_code == 200 and "<progress" in html and 'http-equiv="refresh"' in html
    assert "0 of 3" in html

    run_jobs()
    state = client.get(queued.headers["Location"].split("?")[0] + ".json").json
    assert (state["status"], state["done"], state["total"], state["points"]) == ("done", 3, 3, 21)
    finished = client.get(queued.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in finished and 'id="simulated-cost"' in finished


def test_rules_are_searched_by_their_current_name_across_pages(client, db_session):
    from tests.factories_settlement import active_rule

    wanted = active_rule(db_session, name="Autumn Coffee Double")
    for n in range(3):
        active_rule(db_session, name=f"Other rule {n}")
    user = make_staff(db_session, "marketer")
    sign_in(client, user.email)
    found = client.get("/console/rules?q=coffee&limit=1").get_data(as_text=True)
    assert "Autumn Coffee Double" in found and "Other rule" not in found
    assert wanted.id in client.get(f"/console/rules?q={wanted.id}").get_data(as_text=True)
    assert "No rules match." in client.get("/console/rules?q=nothing-like-it").get_data(as_text=True)


def test_merchants_and_staff_are_searched_by_name(client, db_session):
    make_merchant(db_session, name="Quayside 100% Organic")
    make_merchant(db_session, name="Harbour Books")
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    found = client.get("/console/merchants?q=100%25").get_data(as_text=True)
    assert "Quayside 100% Organic" in found and "Harbour Books" not in found
    staff_page = client.get(f"/console/staff?q={admin.email.upper()}").get_data(as_text=True)
    assert admin.email in staff_page
