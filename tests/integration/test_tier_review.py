"""The tier review on the real database: warnings, falls of one tier after the grace period, set-based."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert, select, update

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.db import new_id
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.notifications.models import Notification
from loyalty.program.services import update_program
from loyalty.tiers.jobs import review_tiers
from tests.factories_members import make_member
from tests.factories_tiers import give_points, set_tiers

DAY = timedelta(days=1)


@pytest.fixture()
def program(db_session, run_jobs):
    update_program(
        db_session,
        changes={"tier_grace_days": 30, "qualification_window_months": 12, "timezone": "Europe/Lisbon"},
        actor=cli_actor(),
    )
    db_session.commit()
    set_tiers(db_session)
    run_jobs()  # the review a new tier list queues, before any member is there


def member_holding(session, code: str | None, points: int = 0) -> str:
    member = make_member(session)
    session.execute(update(Member).where(Member.id == member.id).values(tier_code=code))
    session.commit()
    if points:
        give_points(session, member.id, points)
    return member.id


def state(session, member_id: str) -> tuple[str | None, datetime | None]:
    session.expire_all()
    member = session.get(Member, member_id)
    return member.tier_code, member.tier_grace_until


def notices(session, member_id: str) -> list[tuple[str, str]]:
    return [
        (n.template, n.status)
        for n in session.scalars(
            select(Notification)
            .where(Notification.member_id == member_id, Notification.template != "welcome")
            .order_by(Notification.id)
        )
    ]


def test_a_member_short_of_their_tier_is_warned_once_then_lowered_one_tier_after_the_grace_period(
    db_session, program, run_jobs
):
    now = datetime.now(UTC)
    short = member_holding(db_session, "gold", points=200)  # qualifies for Blue only

    counts = review_tiers(now=now)
    assert counts["warned"] == 1 and counts["lowered"] == 0
    tier, grace_until = state(db_session, short)
    assert tier == "gold" and grace_until == now + 30 * DAY
    run_jobs()
    assert notices(db_session, short) == [("tier_at_risk", "sent")]
    warning = db_session.scalars(select(Notification).where(Notification.template == "tier_at_risk")).one()
    assert warning.data | {"name": None} == {
        "name": None,
        "program": "Loyalty program",
        "tier": "Gold",
        "points": 200,
        "required": 5000,
        "missing": 4800,
        "deadline": (now + 30 * DAY).astimezone(ZoneInfo("Europe/Lisbon")).date().isoformat(),
        "window_months": 12,
    }

    # Within the grace period nothing more happens, however often the review runs.
    for days in (1, 10, 29):
        assert review_tiers(now=now + days * DAY) | {"reviewed": 0} == {
            "reviewed": 0,
            "raised": 0,
            "warned": 0,
            "lowered": 0,
            "cleared": 0,
        }
    assert state(db_session, short) == ("gold", now + 30 * DAY)

    # After it, one tier down: Silver, although the points only reach Blue.
    assert review_tiers(now=now + 31 * DAY)["lowered"] == 1
    assert state(db_session, short) == ("silver", None)
    run_jobs()
    assert notices(db_session, short) == [("tier_at_risk", "sent"), ("tier_lowered", "sent")]
    fall = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.tier_fall")).one()
    assert (fall.object_id, fall.data["from"], fall.data["to"], fall.data["qualifying_points"]) == (
        short,
        "gold",
        "silver",
        200,
    )

    # Short of Silver too: a new warning and a whole grace period before the next step down.
    assert review_tiers(now=now + 32 * DAY)["warned"] == 1
    assert state(db_session, short) == ("silver", now + 62 * DAY)
    assert review_tiers(now=now + 61 * DAY)["lowered"] == 0
    assert review_tiers(now=now + 63 * DAY)["lowered"] == 1
    assert state(db_session, short)[0] == "blue"
    run_jobs()
    assert [t for t, _ in notices(db_session, short)] == [
        "tier_at_risk",
        "tier_lowered",
        "tier_at_risk",
        "tier_lowered",
    ]
    # Blue needs nothing: the member is safe there.
    assert review_tiers(now=now + 100 * DAY)["warned"] == 0


def test_a_member_who_qualifies_again_during_the_grace_period_keeps_the_tier(db_session, program, run_jobs):
    now = datetime.now(UTC)
    member_id = member_holding(db_session, "silver", points=400)
    assert review_tiers(now=now)["warned"] == 1
    give_points(db_session, member_id, 600, now=now)
    # The points are added straight to the ledger (no purchase path): the review clears the mark.
    assert review_tiers(now=now + 2 * DAY)["cleared"] == 1
    assert state(db_session, member_id) == ("silver", None)
    assert review_tiers(now=now + 40 * DAY)["lowered"] == 0
    assert state(db_session, member_id) == ("silver", None)


def test_points_leaving_the_window_make_a_member_short(db_session, program):
    now = datetime.now(UTC)
    member_id = member_holding(db_session, "silver", points=1500)
    assert review_tiers(now=now)["warned"] == 0
    # A year and a month on, those points no longer qualify.
    later = now + timedelta(days=400)
    assert review_tiers(now=later)["warned"] == 1
    assert state(db_session, member_id) == ("silver", later + 30 * DAY)


def test_members_who_qualify_above_their_tier_rise_at_review(db_session, program):
    none = member_holding(db_session, None, points=1200)
    blue = member_holding(db_session, "blue", points=6000)
    counts = review_tiers()
    assert counts["raised"] == 2
    assert state(db_session, none)[0] == "silver" and state(db_session, blue)[0] == "gold"
    rises = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.tier_rise")).all()
    assert {(e.object_id, e.data["to"]) for e in rises} == {(none, "silver"), (blue, "gold")}


def test_from_the_lowest_tier_a_member_falls_to_none_when_it_needs_points(db_session, program, run_jobs):
    from tests.factories_tiers import ladder

    set_tiers(db_session, ladder(base=100))
    now = datetime.now(UTC)
    member_id = member_holding(db_session, "blue", points=20)
    review_tiers(now=now)
    review_tiers(now=now + 31 * DAY)
    assert state(db_session, member_id) == (None, None)
    run_jobs()
    assert [t for t, _ in notices(db_session, member_id)] == ["tier_at_risk", "tier_ended"]
    assert review_tiers(now=now + 32 * DAY)["warned"] == 0


def test_closed_and_suspended_members_are_not_reviewed(db_session, program):
    now = datetime.now(UTC)
    member_id = member_holding(db_session, "gold")
    db_session.execute(update(Member).where(Member.id == member_id).values(status="suspended"))
    db_session.commit()
    assert review_tiers(now=now)["warned"] == 0
    assert state(db_session, member_id) == ("gold", None)


def test_a_new_tier_list_queues_a_review_that_raises_members_who_now_qualify(db_session, program, run_jobs):
    member_id = member_holding(db_session, "blue", points=800)
    run_jobs()
    lower_silver = [
        {"code": "blue", "name": "Blue", "rank": 0, "qualifying_points": 0},
        {"code": "silver", "name": "Silver", "rank": 10, "qualifying_points": 500},
    ]
    set_tiers(db_session, lower_silver)
    assert state(db_session, member_id)[0] == "blue"
    run_jobs()
    assert state(db_session, member_id)[0] == "silver"


def test_the_command_runs_the_review_and_prints_the_counts(app, db_session, program):
    member_holding(db_session, "gold", points=10)
    member_holding(db_session, None, points=1200)
    result = app.test_cli_runner().invoke(args=["tiers", "review"])
    assert result.exit_code == 0, result.output
    assert "Reviewed 2 active members: 1 raised, 1 warned, 0 lowered, 0 no longer at risk." in result.output


def _crowd(session, count: int, now: datetime) -> None:
    """``count`` members in every situation the review meets, written in bulk."""
    members, entries = [], []
    situations = [
        ("gold", 6000, None),  # safe
        ("gold", 100, None),  # short: warned
        ("silver", 200, now - 40 * DAY),  # short past the grace period: lowered
        ("silver", 1500, now - 5 * DAY),  # at risk, qualifies again: cleared
        ("blue", 1200, None),  # qualifies higher: raised
    ]
    for n in range(count):
        tier_code, points, grace_until = situations[n % len(situations)]
        member_id = new_id("mbr")
        members.append(
            {
                "id": member_id,
                "email": f"crowd-{member_id.lower()}@example.com",
                "tier_code": tier_code,
                "tier_at_risk_since": grace_until - 30 * DAY if grace_until else None,
                "tier_grace_until": grace_until,
                "points_balance": points,
            }
        )
        for part in (points // 2, points - points // 2):
            entries.append(
                {
                    "id": new_id("led"),
                    "member_id": member_id,
                    "kind": "earn",
                    "points": part,
                    "balance_after": 0,
                    "lot_remaining": part,
                    "available_at": now,
                    "actor_kind": "system",
                    "actor_name": "test",
                    "breakdown": [],
                }
            )
    session.execute(insert(Member), members)
    session.execute(insert(LedgerEntry), entries)
    session.commit()


def _statements_of_a_review(session, engine, count: int) -> tuple[int, dict]:
    now = datetime.now(UTC)
    _crowd(session, count, now)
    statements = []

    def counter(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", counter)
    try:
        counts = review_tiers(now=now)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return len(statements), counts


def test_the_review_is_set_based_its_statements_do_not_grow_with_the_members(db_session, engine, program):
    few, few_counts = _statements_of_a_review(db_session, engine, 50)
    assert few_counts == {"reviewed": 50, "raised": 10, "warned": 10, "lowered": 10, "cleared": 10}
    db_session.execute(update(Member).values(status="closed"))  # the first crowd is out of the way
    db_session.commit()
    many, many_counts = _statements_of_a_review(db_session, engine, 500)
    assert many_counts == {"reviewed": 500, "raised": 100, "warned": 100, "lowered": 100, "cleared": 100}
    assert many == few
    assert db_session.query(Notification).count() == 10 + 10 + 100 + 100  # warnings and falls
