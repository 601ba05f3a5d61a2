"""The member portal in Chromium at a phone's width: sign up, the card, a purchase with its reason,
a reward redeemed, the pages in traditional Chinese, log out; no outside host is reached.

With ``SAVE_SCREENSHOTS=1`` the test also saves the main pages under docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from loyalty.actors import Role, cli_actor

PHONE = {"width": 360, "height": 780}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "tide-lantern-43"


def _api(base: str, method: str, path: str, key: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def program(live_server):
    """A merchant with a store and an active earning rule, keys for it and for an admin, and a reward."""
    from loyalty.earning.services import activate_rule, create_rule
    from loyalty.keys.services import create_key
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.rewards.services import create_reward

    actor = cli_actor()
    with live_server.unit_of_work() as session:
        merchant = Merchant(name="Lantern Books", contact_email="owner@lantern.example", require_signed_requests=False)
        session.add(merchant)
        session.flush()
        store = add_store(session, merchant_id=merchant.id, name="Lantern Books, Pier Rd", timezone="UTC", actor=actor)
        _key, merchant_key = create_key(session, role=Role.MERCHANT, name="books", merchant_id=merchant.id, actor=actor)
        _key, admin_key = create_key(session, role=Role.ADMIN, name="browser tests", actor=actor)
        rule = create_rule(
            session,
            rule={
                "name": "Two points per euro on books",
                "effect": {"type": "per_amount", "points": 2, "per_minor": 100},
            },
            actor=actor,
        )
        activate_rule(session, rule_id=rule.id, actor=actor)
        reward = create_reward(
            session,
            reward={"name": "Tote bag", "description": "Canvas, with the logo.", "points_cost": 50},
            actor=actor,
        )
        create_reward(session, reward={"name": "Reading lamp", "points_cost": 500}, actor=actor)
        ids = {"store_id": store.id, "merchant_key": merchant_key, "admin_key": admin_key, "reward_id": reward.id}
    return ids


def _shoot(page, name: str) -> None:
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def _is_accessible_in_outline(page) -> None:
    """One h1, the landmarks, a language, and a label for every field."""
    assert page.locator("h1").count() == 1
    for landmark in ("header", "main", "footer"):
        assert page.locator(landmark).count() == 1
    assert page.get_attribute("html", "lang")
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select')]
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map(el => el.name)"""
    )
    assert not unlabelled, f"fields without a label on {page.url}: {unlabelled}"


def test_a_shopper_signs_up_earns_redeems_reads_chinese_and_logs_out(browser, live_server, program):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="en-GB")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    base = live_server.url
    try:
        # Sign up.
        page.goto(f"{base}/portal/signup")
        _is_accessible_in_outline(page)
        _fits_the_phone(page)
        _shoot(page, "signup")
        page.get_by_label("Your name").fill("Mei Lin")
        page.get_by_label("Email", exact=True).fill("mei.lin@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create my account").click()

        # The card: a QR code large enough to scan, and the card number.
        page.get_by_role("heading", name="Your card").wait_for()
        qr = page.locator("svg.qr")
        box = qr.bounding_box()
        assert box and box["width"] >= 200, box
        card_number = qr.get_attribute("aria-label")
        assert card_number and len(card_number) == 16

        # A purchase sent through the API shows on the home page with its reason.
        status, receipt = _api(
            base,
            "POST",
            "/api/v1/purchases",
            program["merchant_key"],
            {
                "external_id": "BOOKS-0001",
                "store_id": program["store_id"],
                "member": {"card_number": card_number},
                "occurred_at": "2026-11-20T10:15:00+00:00",
                "currency": "EUR",
                "total_minor": 2599,
                "items": [{"sku": "NOVEL", "category": "books", "quantity": 1, "unit_price_minor": 2599}],
            },
        )
        assert status == 201, receipt
        status, adjusted = _api(
            base,
            "POST",
            f"/api/v1/members/{receipt['member_id']}/adjustments",
            program["admin_key"],
            {"points": 80, "reason": "Welcome gift", "idempotency_key": "welcome-mei"},
        )
        assert status == 201, adjusted
        page.reload()
        latest = page.locator("table.activity")
        assert "Purchase at Lantern Books, Pier Rd" in latest.inner_text()
        assert "Two points per euro on books" in latest.inner_text()
        assert "+50" in latest.inner_text()
        assert page.locator(".figures").inner_text().replace("\n", " ").startswith("Available 80")
        _is_accessible_in_outline(page)
        _fits_the_phone(page)
        _shoot(page, "home")

        page.get_by_role("link", name="Activity", exact=True).click()
        page.get_by_role("heading", name="Activity").wait_for()
        _fits_the_phone(page)
        _shoot(page, "activity")

        # Redeem a reward, with a confirmation, and see its code.
        page.get_by_role("link", name="Rewards", exact=True).click()
        page.get_by_role("heading", name="Rewards", exact=True).wait_for()
        _fits_the_phone(page)
        _shoot(page, "rewards")
        page.get_by_role("link", name="Redeem Tote bag").click()
        page.get_by_role("button", name="Yes, redeem for 50 points").click()
        page.get_by_text("Done! Show this code at the till").wait_for()
        code = page.locator("p.code").inner_text()
        assert len(code) == 14 and code.count("-") == 2
        redemption_url = page.url
        assert page.locator("svg.qr").get_attribute("aria-label") == code
        _fits_the_phone(page)
        _shoot(page, "reward-code")

        page.get_by_role("link", name="Claims", exact=True).click()
        page.get_by_role("heading", name="Claim a purchase").wait_for()
        _shoot(page, "claims")
        page.get_by_role("link", name="Profile", exact=True).click()
        page.get_by_role("heading", name="Profile", exact=True).wait_for()
        _is_accessible_in_outline(page)
        _fits_the_phone(page)
        _shoot(page, "profile")

        # Traditional Chinese, remembered for the account.
        page.get_by_role("link", name="Home", exact=True).click()
        page.get_by_role("heading", name="Hello, Mei Lin").wait_for()
        page.get_by_role("button", name="繁體中文").click()
        page.get_by_role("heading", name="您的點數").wait_for()
        assert page.get_attribute("html", "lang") == "zh-Hant"
        assert "於 Lantern Books, Pier Rd 消費" in page.locator("table.activity").inner_text()
        assert page.get_by_role("link", name="獎勵", exact=True).count() == 1
        _fits_the_phone(page)
        _shoot(page, "home-zh-hant")

        # Log out.
        page.get_by_role("button", name="登出").click()
        page.get_by_text("您已登出。").wait_for()
        page.goto(f"{base}/portal/")
        assert urlsplit(page.url).path == "/portal/login"
        _shoot(page, "login-zh-hant")
    finally:
        context.close()

    # Another member, in another browser, finds nothing at the first member's redemption.
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{base}/portal/signup")
        page.get_by_label("Your name").fill("Jun Ho")
        page.get_by_label("Email", exact=True).fill("jun.ho@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create my account").click()
        page.get_by_role("heading", name="Your card").wait_for()
        answer = page.goto(redemption_url)
        assert answer is not None and answer.status == 404
        assert code not in page.content()
        assert "Tote bag" not in page.content()
    finally:
        context.close()

    own = urlsplit(base).hostname
    outside = [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname != own]
    assert not outside, f"the portal reached outside hosts: {outside}"


def test_the_keyboard_reaches_a_visible_skip_link_first(browser, live_server):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/portal/login")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        assert focused == "Skip to content"
        box = page.locator(".skip-link").bounding_box()
        assert box and box["x"] >= 0 and box["y"] >= 0
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
    finally:
        context.close()
