"""Monthly statements on hand-worked examples: who funds each point, returns across months, closed statements.

The program runs in UTC here. Entries are written now; a statement of this
month is closed with a clock set after the month's end, and entries written
after that close (a late return) fall into the next month's statement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from ulid import ULID

from loyalty.actors import cli_actor
from loyalty.db import utcnow
from loyalty.errors import InvalidState
from loyalty.ledger.models import LedgerEntry
from loyalty.program.services import update_program
from loyalty.purchases.returns import return_purchase
from loyalty.purchases.services import claim_purchase
from loyalty.rewards.services import pay_with_points
from loyalty.settlement.models import Statement, StatementLine
from loyalty.settlement.statements import close_statement, month_start, next_month, reversed_share, scan_of
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_settlement import OPERATOR_BASE, active_rule, active_rules, set_funding, top_up


@pytest.fixture()
def coalition(db_session):
    """Merchant M: 5 per 10 points issued, 40 per 100 redeemed, a 30-point bonus of its own; the operator 1 a euro."""
    update_program(db_session, changes={"timezone": "UTC", "pending_days": 0}, actor=cli_actor())
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id, timezone="UTC")
    active_rule(db_session, **OPERATOR_BASE)
    active_rule(db_session, merchant_id=merchant.id, name="M's bonus", effect={"type": "bonus", "points": 30})
    set_funding(
        db_session, merchant.id, issue_price_minor=5, issue_per_points=10, redeem_price_minor=40, redeem_per_points=100
    )
    db_session.commit()
    return merchant, store, active_rules(db_session)


def this_month():
    return month_start(utcnow().date())


def after(period, days: int = 1) -> datetime:
    """A clock set ``days`` into the month after ``period``."""
    following = next_month(period)
    return datetime(following.year, following.month, following.day, tzinfo=UTC) + timedelta(days=days)


def close(session, merchant, period):
    statement = close_statement(
        session, merchant_id=merchant.id, period_start=period, actor=cli_actor(), now=after(period)
    )
    session.commit()
    return statement


def returned(session, purchase_id: str, amount_minor: int):
    outcome = return_purchase(
        session,
        purchase_id=purchase_id,
        external_id=f"RET-{purchase_id}-{amount_minor}",
        items=None,
        amount_minor=amount_minor,
        fingerprint=f"RET-{purchase_id}-{amount_minor}",
        actor=cli_actor(),
    )
    session.commit()
    return outcome


def lines_of(session, statement) -> list[StatementLine]:
    return list(session.scalars(select(StatementLine).where(StatementLine.statement_id == statement.id)))


def test_points_are_charged_to_their_funder_and_priced_once_per_statement(db_session, coalition):
    merchant, store, rules = coalition
    member = make_member(db_session)
    a = buy(db_session, store, member=member, rules=rules, total_minor=4250)  # 42 operator + 30 merchant
    b = buy(db_session, store, member=member, rules=rules, total_minor=1000)  # 10 operator + 30 merchant
    assert (a.receipt["points_awarded"], b.receipt["points_awarded"]) == (72, 40)
    pay_with_points(
        db_session,
        member_id=member.id,
        points=50,
        idempotency_key="PAY-1",
        fingerprint="PAY-1",
        actor=cli_actor(),
        store_id=store.id,
    )
    db_session.commit()

    statement = close(db_session, merchant, this_month())
    assert (statement.merchant_points, statement.operator_points, statement.redeemed_points) == (60, 52, 50)
    assert statement.issued_amount_minor == 30  # 60 points at 5 per 10
    assert statement.redeemed_amount_minor == 20  # 50 points at 40 per 100
    assert statement.net_minor == 10  # the merchant owes the operator 0.10
    assert statement.line_count == 3


def test_a_return_after_the_close_goes_into_the_next_statement_and_gives_back_exactly_the_share(db_session, coalition):
    merchant, store, rules = coalition
    member = make_member(db_session)
    a = buy(db_session, store, member=member, rules=rules, total_minor=4250)  # 72 points: 30 M's, 42 the operator's
    first = close(db_session, merchant, this_month())
    assert (first.merchant_points, first.operator_points) == (30, 42)

    # Returned in two parts after the month was closed: 1000 of 4250 reverses floor(72 * 1000 / 4250) = 16
    # points, M's share floor(16 * 30 / 72) = 6; the rest reverses 56, M's share 30 - 6 = 24.
    returned(db_session, a.receipt["id"], 1000)
    returned(db_session, a.receipt["id"], 3250)
    second = close(db_session, merchant, next_month(this_month()))
    assert (second.merchant_points, second.operator_points) == (-30, -42)
    assert [
        (line.merchant_points, line.operator_points)
        for line in sorted(lines_of(db_session, second), key=lambda x: x.entry_id)
    ] == [(-6, -10), (-24, -32)]
    assert second.issued_amount_minor == -15 and second.net_minor == -15  # a credit to the merchant
    # The closed statement did not move.
    db_session.expire_all()
    again = db_session.get(Statement, first.id)
    assert (again.merchant_points, again.operator_points, again.line_count) == (30, 42, 1)


def test_a_claimed_anonymous_purchase_splits_what_was_left_when_claimed(db_session, coalition):
    merchant, store, rules = coalition
    sale = buy(db_session, store, member=None, rules=rules, total_minor=4250)
    returned(db_session, sale.receipt["id"], 1000)  # before the claim: no ledger entry, 16 points reversed
    member = make_member(db_session)
    claim_purchase(db_session, member_id=member.id, claim_code=sale.receipt["claim_code"], actor=cli_actor())
    db_session.commit()
    returned(db_session, sale.receipt["id"], 3250)

    statement = close(db_session, merchant, this_month())
    by_kind = {line.kind: (line.merchant_points, line.operator_points) for line in lines_of(db_session, statement)}
    assert by_kind == {"claim": (24, 32), "return": (-24, -32)}
    assert (statement.merchant_points, statement.operator_points) == (0, 0)


@pytest.mark.parametrize(
    ("own", "total", "steps"),
    [(30, 72, [16, 56]), (1, 3, [1, 1, 1]), (7, 7, [3, 4]), (0, 50, [25, 25]), (99, 100, [1] * 100)],
)
def test_the_shares_of_a_purchase_returned_in_steps_add_up_to_its_whole_share(own, total, steps):
    done, parts = 0, []
    for step in steps:
        parts.append(reversed_share(own, total, done, done + step))
        done += step
    assert sum(parts) == own
    assert all(0 <= part <= step for part, step in zip(parts, steps, strict=True))


def test_a_statement_equals_the_sum_of_its_ledger_lines(db_session, coalition):
    merchant, store, rules = coalition
    members = [make_member(db_session) for _ in range(3)]
    sales = [buy(db_session, store, member=m, rules=rules, total_minor=1234 * (i + 1)) for i, m in enumerate(members)]
    returned(db_session, sales[1].receipt["id"], 999)
    pay_with_points(
        db_session,
        member_id=members[2].id,
        points=40,
        idempotency_key="PAY-S",
        fingerprint="PAY-S",
        actor=cli_actor(),
        store_id=store.id,
    )
    db_session.commit()
    statement = close(db_session, merchant, this_month())
    lines = lines_of(db_session, statement)
    entries = {e.id: e for e in db_session.scalars(select(LedgerEntry).where(LedgerEntry.merchant_id == merchant.id))}
    assert {line.entry_id for line in lines} == set(entries)
    assert statement.merchant_points == sum(line.merchant_points for line in lines)
    assert statement.operator_points == sum(line.operator_points for line in lines)
    assert statement.redeemed_points == sum(line.redeemed_points for line in lines)
    for line in lines:
        entry = entries[line.entry_id]
        if line.kind in ("earn", "claim", "return"):
            assert line.merchant_points + line.operator_points == entry.points
        else:
            assert line.redeemed_points == -entry.points


def test_a_closed_statement_is_never_closed_again_nor_changed(db_session, coalition):
    merchant, store, rules = coalition
    member = make_member(db_session)
    buy(db_session, store, member=member, rules=rules, total_minor=4250)
    first = close(db_session, merchant, this_month())
    buy(db_session, store, member=member, rules=rules, total_minor=4250)  # after the close
    again = close(db_session, merchant, this_month())
    assert again.id == first.id and again.line_count == 1 and again.merchant_points == 30
    assert db_session.scalar(select(func.count()).select_from(StatementLine)) == 1
    # A month that has not ended is not settled.
    with pytest.raises(InvalidState):
        close_statement(
            db_session,
            merchant_id=merchant.id,
            period_start=next_month(this_month()),
            actor=cli_actor(),
            now=after(this_month()),
        )


def test_an_entry_committed_after_a_close_but_made_before_the_newest_counted_one_goes_into_the_next(
    db_session, coalition
):
    merchant, store, rules = coalition
    member = make_member(db_session)
    buy(db_session, store, member=member, rules=rules, total_minor=1000)
    buy(db_session, store, member=member, rules=rules, total_minor=2000)
    first = close(db_session, merchant, this_month())
    assert first.line_count == 2 and first.last_entry_id == max(line.entry_id for line in lines_of(db_session, first))

    # A sale whose transaction was still open while the month was closed: its entry was made an hour before the
    # newest entry the statement counted, and committed after the close.
    late = buy(db_session, store, member=member, rules=rules, total_minor=3000)  # 30 + 30 points
    made = ULID.from_str(first.last_entry_id.rpartition("_")[2]).datetime - timedelta(hours=1)
    earlier = f"led_{ULID.from_datetime(made)}"
    assert earlier < first.last_entry_id
    db_session.execute(update(LedgerEntry).where(LedgerEntry.purchase_id == late.receipt["id"]).values(id=earlier))
    db_session.commit()

    second = close(db_session, merchant, next_month(this_month()))
    assert [line.entry_id for line in lines_of(db_session, second)] == [earlier]
    assert (second.merchant_points, second.operator_points) == (30, 30)
    # The next close reads from a week before the newest entry any statement of the merchant counted.
    scan = scan_of(db_session, merchant.id)
    assert scan.newest == first.last_entry_id
    assert ULID.from_str(scan.floor.rpartition("_")[2]).datetime == ULID.from_str(
        first.last_entry_id.rpartition("_")[2]
    ).datetime - timedelta(days=7)


def test_prepaid_top_ups_are_credited_in_the_statement_of_their_month(db_session, coalition):
    merchant, store, rules = coalition
    set_funding(db_session, merchant.id, prepaid=True)
    top_up(db_session, merchant.id, 100, amount_minor=50)
    member = make_member(db_session)
    buy(db_session, store, member=member, rules=rules, total_minor=1000)  # 30 of M's prepaid points
    statement = close(db_session, merchant, this_month())
    assert (statement.prepaid_points, statement.prepaid_amount_minor) == (100, 50)
    assert statement.issued_amount_minor == 15
    assert statement.net_minor == 15 - 50  # paid in advance: the operator holds 0.35 for the merchant


def test_the_daily_job_closes_every_ended_month_once(app, db_session, coalition):
    from loyalty.settlement.jobs import close_statements

    merchant, store, rules = coalition
    buy(db_session, store, member=make_member(db_session), rules=rules, total_minor=4250)
    later = after(this_month(), days=40)  # two months have ended since
    first = close_statements(now=later)
    assert first["statements"] >= 2
    mine = db_session.scalars(select(Statement).where(Statement.merchant_id == merchant.id)).all()
    assert sorted(s.period_start for s in mine) == [this_month(), next_month(this_month())]
    assert close_statements(now=later)["statements"] == 0
