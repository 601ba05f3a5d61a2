"""Points expiry and its warnings on crafted lots: exact entries, and the ledger's invariants after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from loyalty.actors import cli_actor
from loyalty.ledger import services as ledger
from loyalty.ledger.jobs import run_expiry, run_warnings
from loyalty.ledger.models import ExpiryWarning, LedgerEntry
from loyalty.members.models import Member
from loyalty.notifications.models import Notification
from loyalty.outbox.models import OutboxMessage
from loyalty.program.services import get_program, update_program
from tests.factories_members import make_member
from tests.ledger_checks import assert_ledger_consistent

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def add_lot(session, member, points, *, available_at, expires_at, at=None):
    """A lot added at ``at`` (default: when it becomes available, or now if that is later)."""
    locked = ledger.lock_member(session, member.id)
    entry = ledger.add_points(
        session,
        locked,
        kind="adjust",
        points=points,
        available_at=available_at,
        expires_at=expires_at,
        context=ledger.EntryContext(actor=cli_actor(), note="test lot"),
        now=at or min(available_at, NOW),
    )
    session.commit()
    return entry


def take(session, member, points, *, kind="redeem", at=NOW, may_go_negative=False):
    locked = ledger.lock_member(session, member.id)
    taken = ledger.take_points(
        session,
        locked,
        kind=kind,
        points=points,
        may_go_negative=may_go_negative,
        context=ledger.EntryContext(actor=cli_actor()),
        now=at,
    )
    session.commit()
    return taken


def entries(session, member_id, kind=None):
    query = select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
    if kind:
        query = query.where(LedgerEntry.kind == kind)
    session.expire_all()
    return session.scalars(query).all()


def remaining(session, entry):
    session.expire_all()
    return session.get(LedgerEntry, entry.id).lot_remaining


def test_expired_lots_go_in_one_entry_per_member_and_everything_else_stays(db_session):
    member = make_member(db_session)
    expired = add_lot(db_session, member, 100, available_at=NOW - 800 * DAY, expires_at=NOW - DAY)
    soon = add_lot(db_session, member, 50, available_at=NOW - 700 * DAY, expires_at=NOW + 10 * DAY)
    # Pending, with an expiry already past (a lot can be both): it waits until it is available.
    pending = add_lot(db_session, member, 30, available_at=NOW + 5 * DAY, expires_at=NOW - 3600 * DAY / 86400)
    partly_spent = add_lot(db_session, member, 80, available_at=NOW - 900 * DAY, expires_at=NOW - 2 * DAY)
    forever = add_lot(db_session, member, 40, available_at=NOW - 900 * DAY, expires_at=None)
    take(db_session, member, 30)  # from the lot that expires first: partly_spent
    assert remaining(db_session, partly_spent) == 50

    run = run_expiry(db_session, now=NOW)

    assert (run.members, run.lots, run.points, run.batches) == (1, 2, 150, 1)
    (entry,) = entries(db_session, member.id, "expire")
    assert entry.points == -150
    # 270 before; 120 after, of which the pending lot's 30 are not available.
    assert entry.balance_after == 90
    assert entry.expires_at == NOW - DAY and entry.created_at == NOW
    assert entry.actor_kind == "system" and entry.actor_name == "expiry"
    assert entry.lot_remaining is None and entry.breakdown == []
    assert [remaining(db_session, lot) for lot in (expired, soon, pending, partly_spent, forever)] == [0, 50, 30, 0, 40]
    member = db_session.get(Member, member.id)
    assert member.points_balance == 120 and member.points_debt == 0
    assert ledger.balance(db_session, member, NOW) == ledger.Balance(available=90, pending=30)
    assert_ledger_consistent(db_session, member.id)

    # Nothing more to expire until the pending lot is available.
    assert run_expiry(db_session, now=NOW).lots == 0
    later = run_expiry(db_session, now=NOW + 6 * DAY)
    assert (later.lots, later.points) == (1, 30)
    assert [e.points for e in entries(db_session, member.id, "expire")] == [-150, -30]
    assert_ledger_consistent(db_session, member.id)


def test_expiry_never_touches_a_members_debt(db_session):
    member = make_member(db_session)
    start = NOW - 400 * DAY
    add_lot(db_session, member, 100, available_at=start, expires_at=NOW - DAY, at=start)
    add_lot(db_session, member, 40, available_at=start + 10 * DAY, expires_at=NOW - DAY, at=start)
    # A return of points already spent: the available lot is taken, the rest becomes debt.
    take(db_session, member, 150, kind="return", at=start, may_go_negative=True)
    member = db_session.get(Member, member.id)
    assert (member.points_balance, member.points_debt) == (-10, 50)

    run = run_expiry(db_session, now=NOW)

    assert (run.members, run.points) == (1, 40)
    (entry,) = entries(db_session, member.id, "expire")
    assert (entry.points, entry.balance_after) == (-40, -50)
    member = db_session.get(Member, member.id)
    assert (member.points_balance, member.points_debt) == (-50, 50)
    assert_ledger_consistent(db_session, member.id)


def test_members_with_nothing_expired_get_no_entry(db_session):
    fresh = make_member(db_session)
    add_lot(db_session, fresh, 10, available_at=NOW - DAY, expires_at=NOW + 300 * DAY)
    spent = make_member(db_session)
    add_lot(db_session, spent, 10, available_at=NOW - 30 * DAY, expires_at=NOW - DAY)
    take(db_session, spent, 10, at=NOW - 2 * DAY)

    assert run_expiry(db_session, now=NOW).members == 0
    assert entries(db_session, fresh.id, "expire") == entries(db_session, spent.id, "expire") == []


def test_a_run_takes_members_in_batches_and_every_member_is_expired_once(db_session):
    members = [make_member(db_session) for _ in range(7)]
    for n, member in enumerate(members):
        add_lot(db_session, member, 10 + n, available_at=NOW - 100 * DAY, expires_at=NOW - DAY)
        add_lot(db_session, member, 5, available_at=NOW - 100 * DAY, expires_at=NOW - 2 * DAY)
    seen = []

    run = run_expiry(db_session, now=NOW, batch_size=3, on_batch=lambda number, batch: seen.append(batch.members))

    assert seen == [3, 3, 1] and run.batches == 3
    assert (run.members, run.lots, run.points) == (7, 14, sum(15 + n for n in range(7)))
    for n, member in enumerate(members):
        assert [e.points for e in entries(db_session, member.id, "expire")] == [-(15 + n)]
        assert_ledger_consistent(db_session, member.id)


class StatementCounter:
    """Counts the SQL statements sent to the database while active."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def _count(self, *_args, **_kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def crafted_members(session, count: int, *, expires_at: datetime) -> list[str]:
    """``count`` members, each with a lot of 10 points expiring then and one of 5 that does not."""
    members = [Member(email=f"bulk{n}-{expires_at.timestamp()}@example.com") for n in range(count)]
    for member in members:
        member.points_balance = 15
    session.add_all(members)
    session.flush()
    lots = []
    for member in members:
        for points, expiry in ((10, expires_at), (5, None)):
            lots.append(
                LedgerEntry(
                    member_id=member.id,
                    kind="earn",
                    points=points,
                    balance_after=0,
                    available_at=NOW - 400 * DAY,
                    expires_at=expiry,
                    lot_remaining=points,
                    actor_kind="system",
                    actor_name="test",
                )
            )
    session.add_all(lots)
    session.commit()
    return [member.id for member in members]


@pytest.mark.parametrize(
    "job, due",
    [(run_expiry, NOW - DAY), (run_warnings, NOW + 10 * DAY)],
    ids=["expiry", "warnings"],
)
def test_the_jobs_send_as_many_statements_for_500_members_as_for_50(db_session, engine, job, due):
    get_program(db_session)  # created once, before counting
    db_session.commit()
    counts = {}
    for count in (50, 500):
        ids = crafted_members(db_session, count, expires_at=due)
        with StatementCounter(engine) as counter:
            run = job(db_session, now=NOW, batch_size=1000)
        assert run.members == count and run.batches == 1
        counts[count] = counter.count
        for member_id in ids[:3]:
            assert_ledger_consistent(db_session, member_id)
        # The next round finds these done (expired, or warned).
        due += DAY
    assert counts[50] == counts[500], counts
    assert counts[500] < 20, counts


def notifications(session, member_id):
    session.expire_all()
    return session.scalars(
        select(Notification).where(Notification.member_id == member_id).where(Notification.template != "welcome")
    ).all()


def test_a_warning_goes_30_days_before_once_per_expiry_date(db_session, run_jobs):
    update_program(db_session, changes={"timezone": "Asia/Taipei"}, actor=cli_actor())
    member = make_member(db_session, name="Mei")
    # Two lots on the same local date (Taipei is UTC+8), one beyond 30 days, one already spent.
    add_lot(db_session, member, 70, available_at=NOW - 700 * DAY, expires_at=datetime(2026, 12, 10, 1, 0, tzinfo=UTC))
    add_lot(db_session, member, 30, available_at=NOW - 700 * DAY, expires_at=datetime(2026, 12, 10, 17, 0, tzinfo=UTC))
    add_lot(db_session, member, 20, available_at=NOW - 700 * DAY, expires_at=datetime(2026, 12, 11, 2, 0, tzinfo=UTC))
    add_lot(db_session, member, 500, available_at=NOW - 600 * DAY, expires_at=NOW + 40 * DAY)
    run_jobs()

    run = run_warnings(db_session, now=NOW)

    assert (run.members, run.dates, run.points) == (1, 2, 120)
    (message,) = notifications(db_session, member.id)
    assert message.data == {
        "program": "Loyalty program",
        "name": "Mei",
        "points": 120,
        "when": "from 2026-12-10 to 2026-12-11",
    }
    # 2026-12-10 17:00 UTC is the 11th in Taipei.
    db_session.expire_all()
    warned = db_session.scalars(select(ExpiryWarning).order_by(ExpiryWarning.expires_on)).all()
    assert [(w.expires_on.isoformat(), w.points, w.notification_id) for w in warned] == [
        ("2026-12-10", 70, message.id),
        ("2026-12-11", 50, message.id),
    ]
    assert db_session.scalar(
        select(OutboxMessage.task).where(OutboxMessage.args["notification_id"].as_string() == message.id)
    ) == ("loyalty.notifications.services.deliver_notification")
    assert run_jobs() == 1
    db_session.expire_all()
    assert db_session.get(Notification, message.id).status == "sent"

    # Again the next day, and a week later: those dates are never warned of twice.
    assert run_warnings(db_session, now=NOW + DAY).members == 0
    assert run_warnings(db_session, now=NOW + 8 * DAY).members == 0
    assert len(notifications(db_session, member.id)) == 1

    # The 500 points come within 30 days eleven days later: a second warning, for their date alone.
    later = run_warnings(db_session, now=NOW + 11 * DAY)
    assert (later.members, later.dates, later.points) == (1, 1, 500)
    assert [n.data["when"] for n in notifications(db_session, member.id)] == [
        "from 2026-12-10 to 2026-12-11",
        f"on {(NOW + 40 * DAY).date().isoformat()}",
    ]


def test_a_member_is_warned_at_most_once_a_week_and_dates_wait_for_the_next_warning(db_session):
    member = make_member(db_session)
    add_lot(db_session, member, 10, available_at=NOW - 700 * DAY, expires_at=NOW + 20 * DAY)
    assert run_warnings(db_session, now=NOW).members == 1
    # A lot expiring on another date within 30 days, added after the first warning.
    add_lot(db_session, member, 5, available_at=NOW - 700 * DAY, expires_at=NOW + 25 * DAY)
    assert run_warnings(db_session, now=NOW + 2 * DAY).members == 0
    week_later = run_warnings(db_session, now=NOW + 7 * DAY + timedelta(minutes=1))
    assert (week_later.members, week_later.points) == (1, 5)


def test_closed_members_and_members_without_points_left_are_not_warned(db_session):
    from loyalty.members.services import erase_member

    closed = make_member(db_session)
    add_lot(db_session, closed, 10, available_at=NOW - 700 * DAY, expires_at=NOW + 5 * DAY)
    erase_member(db_session, member_id=closed.id, actor=cli_actor())
    db_session.commit()
    spent = make_member(db_session)
    add_lot(db_session, spent, 10, available_at=NOW - 700 * DAY, expires_at=NOW + 5 * DAY)
    take(db_session, spent, 10)

    assert run_warnings(db_session, now=NOW).members == 0
    assert notifications(db_session, closed.id) == notifications(db_session, spent.id) == []
