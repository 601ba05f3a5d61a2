"""The staff console in a real browser: a merchant's staff member and a marketer at work."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

from loyalty.actors import cli_actor
from tests.factories import unique
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store, make_terminal
from tests.factories_purchases import buy
from tests.factories_staff import PASSWORD, make_staff


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def outside(requested: list[str], base: str) -> list[str]:
    own = urlsplit(base).hostname
    return [u for u in requested if urlsplit(u).scheme in ("http", "https") and urlsplit(u).hostname != own]


def test_merchant_staff_rotate_a_secret_see_only_their_data_and_download_a_statement(page, live_server):
    from loyalty.settlement.statements import close_statement, month_start, next_month

    with live_server.unit_of_work() as session:
        mine = make_merchant(session, name=unique("Quay Bakery "))
        theirs = make_merchant(session, name=unique("Other Shop "))
        store = make_store(session, mine.id, name=unique("Quay St "))
        their_store = make_store(session, theirs.id)
        _terminal, _key, old_secret = make_terminal(session, store.id, name="Till 1")
        buy(session, store, member=make_member(session), total_minor=4250)
        user = make_staff(session, "merchant", merchant_id=mine.id)
        period = month_start(datetime.now(UTC).date())
        following = next_month(period)
        statement = close_statement(
            session,
            merchant_id=mine.id,
            period_start=period,
            actor=cli_actor(),
            now=datetime(following.year, following.month, 1, tzinfo=UTC) + timedelta(days=1),
        )
        ids = {"mine": mine.id, "theirs": theirs.id, "their_store": their_store.id, "statement": statement.id}
    # 127.0.0.1 is a secure context for the browser: the session cookie is Secure, as in production.
    base = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in(page, base, user.email)
    assert page.locator("h1").inner_text().startswith("Quay Bakery")
    page.get_by_role("link", name=store.name).click()
    page.get_by_label("Old secret valid for (hours)").fill("0")
    page.get_by_role("button", name="Rotate secret of Till 1").click()
    secret = page.locator("#signing-secret").inner_text()
    assert secret.startswith("lss_") and secret != old_secret

    # Another merchant's pages do not exist for them, and the operator's pages are not theirs.
    assert page.goto(f"{base}/console/merchants/{ids['theirs']}").status == 404
    assert page.goto(f"{base}/console/stores/{ids['their_store']}").status == 404
    assert page.goto(f"{base}/console/audit").status == 403

    page.goto(f"{base}/console/merchants/{ids['mine']}/statements")
    page.get_by_role("link", name=period.strftime("%B %Y")).first.click()
    expect(page.locator("h1")).to_have_text(f"Statement for {period.strftime('%B %Y')}")
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("entry_id,created_at,kind") and "net_minor" in content
    assert ",earn," in content  # the purchase's points are a line of it
    assert not outside(requested, base), outside(requested, base)


def test_a_marketer_drafts_a_rule_sees_its_simulated_cost_and_activates_it(page, live_server):
    with live_server.unit_of_work() as session:
        user = make_staff(session, "marketer")
    # 127.0.0.1 is a secure context for the browser: the session cookie is Secure, as in production.
    base = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, base, user.email)
    page.goto(f"{base}/console/rules/new")

    name = unique("Coffee weekend ")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Condition (empty: always)").fill("purchase.nonsense > 1")
    # Checked as typed, before anything is saved.
    page.locator("#check-status.bad").wait_for(timeout=10_000)
    assert "unknown fact" in page.locator(".field-error.live").first.inner_text()
    page.get_by_label("Condition (empty: always)").fill('"coffee" in purchase.categories')
    page.get_by_label("Type").select_option("bonus")
    page.get_by_label("Points", exact=True).fill("20")
    page.locator("#check-status.ok").wait_for(timeout=10_000)
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith(name)
    assert "draft" in page.locator(".badge").inner_text()

    page.get_by_role("button", name="Simulate the last 90 days").click()
    page.wait_for_load_state()
    # Its cost over the last 90 days, in money at the redemption rate, before it is switched on.
    assert re.fullmatch(r"-?\d+(\.\d+)? [A-Z]{3}", page.locator("#simulated-cost").inner_text())
    assert "Purchases matched" in page.locator("#simulation-result").inner_text()
    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state()
    assert "active" in page.locator(".badge").inner_text()
    assert not outside(requested, base), outside(requested, base)
