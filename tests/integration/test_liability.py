"""Liability and breakage on a hand-worked history of the ledger, and the console page that draws them."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.actors import cli_actor
from loyalty.ledger.models import LedgerEntry
from loyalty.program.services import update_program
from loyalty.settlement.liability import estimate_breakage, monthly_flows, outstanding_by_merchant
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant
from tests.factories_staff import make_staff, sign_in

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def history(session):
    """Merchant A's cohort of January 2024 (1000 earned, 600 redeemed, 400 expired a year later), then
    500 earned at B in June 2026 and 100 at A in October 2026, 50 of them redeemed."""
    update_program(
        session,
        changes={
            "timezone": "UTC",
            "expiry_months": 12,
            "pending_days": 0,
            "redemption_points": 100,
            "redemption_value_minor": 100,
        },
        actor=cli_actor(),
    )
    a, b = make_merchant(session), make_merchant(session)
    member = make_member(session)
    rows = [
        ("earn", 1000, datetime(2024, 1, 10, tzinfo=UTC), a.id, 0),
        ("redeem", -600, datetime(2024, 3, 5, tzinfo=UTC), a.id, None),
        ("expire", -400, datetime(2025, 1, 15, tzinfo=UTC), None, None),
        ("earn", 500, datetime(2026, 6, 10, tzinfo=UTC), b.id, 500),
        ("earn", 100, datetime(2026, 10, 10, tzinfo=UTC), a.id, 50),
        ("redeem", -50, datetime(2026, 10, 20, tzinfo=UTC), a.id, None),
    ]
    balance = 0
    for kind, points, at, merchant_id, remaining in rows:
        balance += points
        session.add(
            LedgerEntry(
                member_id=member.id,
                kind=kind,
                points=points,
                balance_after=balance,
                created_at=at,
                available_at=at if points > 0 else None,
                merchant_id=merchant_id,
                lot_remaining=remaining,
                actor_kind="cli",
                actor_name="test",
            )
        )
    session.commit()
    return a, b


def test_outstanding_points_by_merchant_are_the_lots_left_valued_at_the_redemption_rate(db_session):
    a, b = history(db_session)
    assert [(o.key, o.points, o.value_minor) for o in outstanding_by_merchant(db_session)] == [
        (b.id, 500, 500),
        (a.id, 50, 50),
    ]


def test_the_liability_at_each_month_end_is_the_running_sum_of_the_ledger(db_session):
    history(db_session)
    flows = [(f.month, f.earned, f.redeemed, f.expired, f.liability) for f in monthly_flows(db_session)]
    assert flows == [
        ("2024-01", 1000, 0, 0, 1000),
        ("2024-03", 0, 600, 0, 400),
        ("2025-01", 0, 0, 400, 0),
        ("2026-06", 500, 0, 0, 500),
        ("2026-10", 100, 50, 0, 550),
    ]


def test_breakage_is_estimated_from_the_matured_cohorts_share_lost_to_expiry(db_session):
    history(db_session)
    estimate = estimate_breakage(db_session, now=NOW)
    # January 2024 is matured: it lost 400 of 1000 to expiry, a rate of 40 %.
    assert estimate.rate_per_mille == 400 and estimate.matured_cohorts == 1
    cohorts = {c.month: (c.earned, c.outstanding, c.expired, c.matured, c.expected_breakage) for c in estimate.cohorts}
    assert cohorts == {
        "2024-01": (1000, 0, 400, True, 0),
        # 40 % of 500 earned, none expired yet: 200 of the 500 outstanding are expected to break.
        "2026-06": (500, 500, 0, False, 200),
        # 40 % of 100 is 40, within the 50 still outstanding.
        "2026-10": (100, 50, 0, False, 40),
    }
    assert (estimate.expected_points, estimate.expected_minor) == (240, 240)
    assert (estimate.outstanding_points, estimate.outstanding_minor) == (550, 550)


def test_without_expiry_or_without_a_matured_cohort_nothing_is_expected_to_break(db_session):
    history(db_session)
    young = estimate_breakage(db_session, now=datetime(2024, 6, 1, tzinfo=UTC))
    assert young.rate_per_mille is None and young.expected_points == 0
    update_program(db_session, changes={"expiry_months": None}, actor=cli_actor())
    never = estimate_breakage(db_session, now=NOW)
    assert never.rate_per_mille is None and never.expected_points == 0


def test_the_liability_page_draws_its_charts_as_svg_for_admins_only(client, db_session):
    history(db_session)
    admin = make_staff(db_session, "admin")
    sign_in(client, admin.email)
    page = client.get("/console/liability")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("<svg") == 3 and "<rect" in html and "<polyline" in html
    assert 'id="outstanding-points">550<' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    marketer = make_staff(db_session, "marketer")
    sign_in(client, marketer.email)
    assert client.get("/console/liability").status_code == 403
