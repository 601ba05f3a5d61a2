"""The members' analytics pages of the console: stages, flows, segments, churn, cohorts, and a run's progress."""

from __future__ import annotations

from loyalty.db import utcnow
from tests.factories_analytics import DAY, enrolled, history
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_staff import make_staff, post_form, sign_in


def test_a_marketer_starts_a_run_follows_it_and_reads_the_members_page(client, db_session, run_jobs):
    now = utcnow()
    store = make_store(db_session, make_merchant(db_session).id)
    for days in ([3], [5, 12, 19, 26, 33], [400]):
        member = make_member(db_session)
        enrolled(db_session, member, now - 420 * DAY)
        history(db_session, store, member, days, now=now)
    make_member(db_session)
    marketer = make_staff(db_session, "marketer")
    sign_in(client, marketer.email)

    before = client.get("/console/analytics").get_data(as_text=True)
    assert "No analytics run has finished yet" in before

    started = post_form(client, "/console/analytics/runs", page="/console/analytics")
    assert started.status_code == 302
    progress = client.get(started.headers["Location"])
    page = progress.get_data(as_text=True)
    assert 'id="sim-progress"' in page and "queued" in page
    run_jobs()
    run_id = started.headers["Location"].rsplit("/", 1)[1]
    state = client.get(f"/console/analytics/runs/{run_id}.json").json
    assert state["status"] == "done" and state["percent"] == 100 and state["members"] == 4
    assert "See where members stand" in client.get(f"/console/analytics/runs/{run_id}").get_data(as_text=True)

    page = client.get("/console/analytics").get_data(as_text=True)
    assert "From the analytics run of" in page
    assert "<svg" in page and "Members by lifecycle stage" in page
    assert '<td>First purchase</td><td class="num">1</td>' in page
    assert '<td>Lost</td><td class="num">1</td>' in page
    assert '<td>Prospect</td><td>Lost</td><td class="num">1</td>' in page
    assert 'id="cohorts"' in page and "heat-" in page
    assert 'id="rfm-grid"' in page and "champions" in page


def test_merchant_staff_may_not_see_member_analytics(client, db_session):
    merchant = make_merchant(db_session)
    user = make_staff(db_session, "merchant", merchant_id=merchant.id)
    sign_in(client, user.email)
    assert client.get("/console/analytics").status_code == 403
    assert b"/console/analytics" not in client.get("/console/").data
