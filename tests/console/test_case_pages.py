"""The console's service pages: the case queue, a case worked to resolution, and the member's 360-degree page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty.actors import Actor
from loyalty.analytics.models import LifecycleStageChange
from loyalty.cases import services as cases
from loyalty.cases.queries import list_cases
from loyalty.ledger.models import LedgerEntry
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_staff import make_staff, post_form, sign_in

ADMIN = Actor(kind="cli", name="seed")


def open_case(session, member, **kw):
    case = cases.open_case(session, member_id=member.id, actor=ADMIN, **kw)
    session.commit()
    return case


def test_the_queue_shows_urgent_cases_first_and_filters(client, db_session):
    member = make_member(db_session, name="Ana")
    normal = open_case(db_session, member, receipt_ref="N-1", points_claimed=10)
    urgent = open_case(db_session, make_member(db_session), receipt_ref="U-1", points_claimed=5000)
    sign_in(client, make_staff(db_session, "marketer").email)

    html = client.get("/console/cases").get_data(as_text=True)
    assert html.index(urgent.id) < html.index(normal.id)
    only_urgent = client.get("/console/cases?priority=urgent").get_data(as_text=True)
    assert urgent.id in only_urgent and normal.id not in only_urgent
    resolved = client.get("/console/cases?status=resolved").get_data(as_text=True)
    assert urgent.id not in resolved and "No cases match." in resolved
    # A marketer reads a case but has no forms to act on it, and cannot post one.
    page = client.get(f"/console/cases/{urgent.id}").get_data(as_text=True)
    assert "Resolve and credit" not in page
    assert post_form(client, f"/console/cases/{urgent.id}/resolve", {"points": "5", "reason": "x"}).status_code == 403


def test_an_admin_notes_then_resolves_a_case_and_the_credit_shows_on_the_members_page(client, db_session):
    member = make_member(db_session, name="Bea")
    case = open_case(db_session, member, receipt_ref="R-7", points_claimed=70)
    sign_in(client, make_staff(db_session, "admin").email)

    noted = post_form(client, f"/console/cases/{case.id}/notes", {"body": "Store confirms the sale"})
    assert noted.status_code == 302
    assert "in progress" in client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    bad = post_form(client, f"/console/cases/{case.id}/resolve", {"points": "seven", "reason": "ok"})
    assert bad.status_code == 422
    done = post_form(client, f"/console/cases/{case.id}/resolve", {"points": "70", "reason": "Store journal"})
    assert done.status_code == 302
    again = post_form(client, f"/console/cases/{case.id}/resolve", {"points": "70", "reason": "Store journal"})
    assert again.status_code == 302  # the same resolution: nothing more happens
    db_session.expire_all()
    points = db_session.scalars(select(LedgerEntry.points).where(LedgerEntry.member_id == member.id)).all()
    assert points == [70]

    page = client.get(f"/console/members/{member.id}").get_data(as_text=True)
    assert "Points adjusted by +70" in page and f"Case {case.id}: Store journal" in page
    assert 'id="balance-available">70<' in page


def test_the_member_page_filters_the_timeline_by_kind_and_pages_it(client, db_session):
    member = make_member(db_session, name="Cai")
    store = make_store(db_session, make_merchant(db_session, name="Book Nook").id)
    buy(db_session, store, member=member, total_minor=1500)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    db_session.add_all(
        LifecycleStageChange(member_id=member.id, from_stage=None, to_stage="prospect", changed_at=base + timedelta(i))
        for i in range(30)
    )
    db_session.commit()
    sign_in(client, make_staff(db_session, "admin").email)

    page = client.get(f"/console/members/{member.id}").get_data(as_text=True)
    assert "Purchase at Book Nook" in page and "Older" in page
    stages = client.get(f"/console/members/{member.id}?kind=stage_change&limit=100").get_data(as_text=True)
    assert stages.count('class="kind-stage_change"') == 30 and "Purchase at Book Nook" not in stages
    # Found by card number from the search page.
    found = client.get(f"/console/members?q={member.card_number}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/console/members/{member.id}")
    assert client.get("/console/members?q=nobody@example.com").status_code == 404


def test_merchant_staff_do_not_reach_the_operators_service_pages(client, db_session):
    merchant = make_merchant(db_session)
    member = make_member(db_session)
    case = open_case(db_session, member, receipt_ref="R")
    sign_in(client, make_staff(db_session, "merchant", merchant_id=merchant.id).email)
    for url in ("/console/cases", f"/console/cases/{case.id}", f"/console/members/{member.id}", "/console/members"):
        assert client.get(url).status_code == 403, url


def test_an_admin_opens_a_case_from_the_members_page(client, db_session):
    member = make_member(db_session)
    sign_in(client, make_staff(db_session, "admin").email)
    made = post_form(
        client,
        f"/console/members/{member.id}/cases",
        {"receipt_ref": "R-55", "points_claimed": "12", "description": ""},
    )
    assert made.status_code == 302
    (case,) = list_cases(db_session, actor=ADMIN, limit=5, cursor=None, member_id=member.id).items
    assert (case.receipt_ref, case.points_claimed, case.source) == ("R-55", 12, "staff")


def test_an_admin_notes_a_call_on_the_members_page_and_it_joins_the_timeline(client, db_session):
    member = make_member(db_session)
    sign_in(client, make_staff(db_session, "admin").email)
    assert post_form(client, f"/console/members/{member.id}/notes", {"body": " "}).status_code == 422
    added = post_form(client, f"/console/members/{member.id}/notes", {"body": "Called about her card"})
    assert added.status_code == 302
    page = client.get(f"/console/members/{member.id}?kind=note").get_data(as_text=True)
    assert "Called about her card" in page and page.count('class="kind-note"') == 1
