"""Service cases in a real browser: an admin resolves an urgent case from the queue, a member reports missing points."""

from __future__ import annotations

from playwright.sync_api import expect

from loyalty.actors import Actor, Role
from loyalty.db import utcnow
from tests.browser.test_console import outside, sign_in
from tests.factories import unique
from tests.factories_members import make_member
from tests.factories_staff import make_staff

SEED = Actor(kind="staff", name="seed@staff.example.com", role=Role.ADMIN)


def test_an_admin_resolves_an_urgent_case_from_the_queue_and_sees_the_credit_in_the_members_timeline(page, live_server):
    from loyalty.cases import services as cases

    with live_server.unit_of_work() as session:
        member = make_member(session, name=unique("Dana "))
        calm = make_member(session, name=unique("Eli "))
        normal = cases.open_case(session, member_id=calm.id, receipt_ref=unique("N-"), points_claimed=20, actor=SEED)
        urgent = cases.open_case(
            session, member_id=member.id, receipt_ref=unique("U-"), points_claimed=1500, actor=SEED
        )
        admin = make_staff(session, "admin")
        ids = {"member": member.id, "urgent": urgent.id, "normal": normal.id, "subject": urgent.subject}
    base = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in(page, base, admin.email)
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f"text={ids['normal']}")).to_have_count(0)
    rows = page.locator("#case-queue tbody tr")
    assert "urgent" in rows.first.inner_text()
    page.get_by_role("link", name=ids["subject"]).click()
    expect(page.locator("h1")).to_have_text(ids["subject"])

    page.get_by_label("Add a note").fill("The store confirms the sale on its journal.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#case-status")).to_have_text("in progress")
    page.get_by_label("Points to credit").fill("1500")
    page.get_by_label("Reason", exact=True).fill("Confirmed on the store journal")
    page.get_by_role("button", name="Resolve and credit").click()
    expect(page.locator("#case-status")).to_have_text("resolved")
    assert page.locator("#points-granted").inner_text() == "1\u2009500"

    page.locator("dl.figures").get_by_role("link").click()
    expect(page.locator("#balance-available")).to_have_text("1\u2009500")
    timeline = page.locator("#timeline")
    assert timeline.locator("tr.kind-points").first.inner_text().count("Points adjusted by +1500") == 1
    assert f"Case {ids['urgent']}: Confirmed on the store journal" in timeline.inner_text()
    # The kinds filter: only the case and its notes.
    page.get_by_label("Cases", exact=True).check()
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#timeline tbody tr:not(.kind-case)")).to_have_count(0)
    kinds = {row.get_attribute("class") for row in page.locator("#timeline tbody tr").all()}
    assert kinds == {"kind-case"}
    assert not outside(requested, base), outside(requested, base)


def test_a_member_reports_missing_points_from_the_claims_page(page, live_server):
    base = live_server.url
    email = f"{unique('report')}@example.com"
    page.goto(f"{base}/portal/signup")
    page.get_by_label("Your name").fill("Fay Wong")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("tide-lantern-43")
    page.get_by_role("button", name="Create my account").click()
    page.get_by_role("heading", name="Your card").wait_for()

    page.goto(f"{base}/portal/claims")
    page.get_by_label("Receipt number").fill("R-88012")
    page.get_by_label("Date of purchase").fill(utcnow().date().isoformat())
    page.get_by_label("Shop").fill("Lantern Books")
    page.get_by_label("Points missing (if you know)").fill("42")
    page.get_by_role("button", name="Send the report").click()

    page.get_by_text("Thank you. We will look into it").wait_for()
    reports = page.locator("ul.reports").inner_text()
    assert "R-88012" in reports and "Received" in reports
