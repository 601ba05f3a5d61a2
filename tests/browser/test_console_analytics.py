"""The members' analytics page in a real browser: a marketer runs the analytics and reads stages and cohorts."""

from __future__ import annotations

from urllib.parse import urlsplit

from loyalty.analytics.jobs import run_analytics
from loyalty.db import utcnow
from tests.factories_analytics import DAY, enrolled, history
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_staff import PASSWORD, make_staff


def test_a_marketer_runs_the_analytics_and_sees_the_stage_chart_and_cohort_table(page, live_server):
    now = utcnow()
    with live_server.unit_of_work() as session:
        store = make_store(session, make_merchant(session).id)
        for days in ([2], [4, 11, 18, 25, 32, 39], [380, 400]):
            member = make_member(session)
            enrolled(session, member, now - 60 * DAY)
            history(session, store, member, days, now=now)
        user = make_staff(session, "marketer")
    base = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base}/console/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    page.get_by_role("link", name="Analytics").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Run the analytics now").click()
    page.wait_for_load_state()
    assert page.locator("#sim-progress").is_visible()
    run_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    # No worker runs beside the live server: the job runs here, and the page notices by itself.
    with live_server.unit_of_work() as session:
        run_analytics(session, run_id=run_id)
    page.locator("#run-done").wait_for(timeout=15_000)
    page.get_by_role("link", name="See where members stand").click()
    page.wait_for_load_state()

    chart = page.locator("#stage-chart svg")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() == 8
    assert "Members by lifecycle stage" in chart.locator("title").first.text_content()
    cohorts = page.locator("table#cohorts")
    assert cohorts.is_visible()
    enrolment = (now - 60 * DAY).strftime("%Y-%m")
    row = cohorts.locator("tbody tr", has=page.locator(f"th:text-is('{enrolment}')"))
    assert row.count() == 1 and "%" in row.inner_text()
    own = urlsplit(base).hostname
    assert not [u for u in requested if urlsplit(u).scheme.startswith("http") and urlsplit(u).hostname != own]
