"""A marketer runs a campaign in a real browser: writes it with a live audience estimate, launches it,
follows its progress and reads its results."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.test_console import outside, sign_in
from tests.factories import unique
from tests.factories_members import make_member
from tests.factories_staff import make_staff


def work_off(live_server) -> int:
    """Run every outbox message not yet done, as a worker would, until none is left."""
    from loyalty.outbox.models import OutboxMessage
    from loyalty.outbox.services import run_message

    ran = 0
    while True:
        with live_server.unit_of_work() as session:
            ids = session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None)).order_by(OutboxMessage.created_at)
            ).all()
        if not ids:
            return ran
        for message_id in ids:
            with live_server.unit_of_work() as session:
                run_message(session, message_id)
            ran += 1


def test_a_marketer_creates_a_campaign_launches_it_and_sees_its_progress_and_results(page, live_server):
    tier = unique("T").lower()[:20]
    with live_server.unit_of_work() as session:
        user = make_staff(session, "marketer")
        for _ in range(6):
            member = make_member(session, marketing_opt_in=True)
            member.tier_code = tier
    base = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, base, user.email)

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    name = unique("Winter win-back ")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Tier codes (comma separated)").fill(tier)
    # The audience's size follows the filter as it is typed.
    page.locator("#audience-size", has_text="6 members").wait_for(timeout=10_000)
    page.get_by_label("Bonus points").fill("50")
    page.get_by_label("Control group share (%)").fill("50")
    page.get_by_label("Message (en)").fill("50 points are waiting for you.")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == name
    assert page.locator("#campaign-status").inner_text() == "draft"

    page.get_by_role("button", name="Launch").click()
    page.wait_for_load_state()
    assert page.locator("#campaign-status").inner_text() == "running"
    assert page.locator("#campaign-phase").inner_text() == "selecting"

    assert work_off(live_server) >= 2  # the draw, then the batches
    page.reload()
    assert page.locator("#campaign-phase").inner_text() == "delivered"
    delivered = page.locator("#delivered").inner_text()
    done, _of, treatment = delivered.split()
    assert done == treatment and int(treatment) <= 6
    # Six members cannot show an effect: the page says so instead of a lift.
    assert page.locator("#verdict").inner_text().startswith("Too small to show an effect")
    assert page.locator("#results svg.chart").count() == 2
    page.get_by_role("link", name="Campaigns").first.click()
    page.get_by_label("Name or id").fill(name)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=name)).to_have_count(1)
    assert not outside(requested, base), outside(requested, base)
