"""flask --app wsgi purchases import: an end-of-day file recorded through the purchase services, once."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalty.actors import cli_actor
from loyalty.earning import services as rules
from loyalty.imports.csvfile import COLUMNS
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.purchases.models import Purchase, PurchaseItem, PurchaseReturn
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.ledger_checks import assert_ledger_consistent

HEADER = ",".join(COLUMNS)


@pytest.fixture()
def shop(db_session):
    """A store in Lisbon, one point per euro, and two members."""
    rule = rules.create_rule(
        db_session,
        rule={"name": "A point a euro", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        actor=cli_actor(),
    )
    rules.activate_rule(db_session, rule_id=rule.id, actor=cli_actor())
    db_session.commit()
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id, timezone="Europe/Lisbon")
    ana = make_member(db_session, email="ana@example.com", phone="+351912345678")
    ben = make_member(db_session, email="ben@example.com")
    # Ids and plain values: the command's app context ends by removing the session, detaching objects.
    return {"merchant": merchant.id, "store": store.id, "ana": ana.id, "ben": ben.id, "card": ana.card_number}


def write(tmp_path, *rows: str, name: str = "day.csv", header: str = HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def run_import(app, path, store_id, *extra: str):
    return app.test_cli_runner().invoke(args=["purchases", "import", str(path), "--store", store_id, *extra])


def purchase(session, merchant_id, external_id) -> Purchase | None:
    session.expire_all()
    return session.scalar(
        select(Purchase).where(Purchase.merchant_id == merchant_id, Purchase.external_id == external_id)
    )


def entries(session, member_id) -> list[tuple[str, int]]:
    return [
        (e.kind, e.points)
        for e in session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id))
    ]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_good_file_records_each_purchase_with_its_lines_and_points(app, db_session, shop, tmp_path):
    card = shop["card"]
    path = write(
        tmp_path,
        f"sale,R-1,,2026-11-22 10:15,{card},,,LATTE,coffee,2,4.50,",
        f"sale,R-1,,2026-11-22 10:15,{card},,,CAKE,bakery,1,12.00,2.00",
        "sale,R-2,,2026-11-22T18:00:00+08:00,,,ben@example.com,BEANS,coffee,3,8.99,",
        "sale,R-3,,2026-11-22 19:30:00,,,,LATTE,coffee,1,4.50,",
    )

    result = run_import(app, path, shop["store"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "day.csv: 4 rows. Recorded 3 purchases (45 points awarded) and 0 returns (0 points taken back); "
        "0 already recorded; 0 rejected (0 rows)."
    ]
    first = purchase(db_session, shop["merchant"], "R-1")
    assert first.member_id == shop["ana"]
    assert first.total_minor == 2 * 450 + 1200 - 200
    # Lisbon is on UTC in November: the store-local 10:15 is 10:15Z.
    assert first.occurred_at == datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
    assert [(i.sku, i.category, i.quantity, i.unit_price_minor) for i in first.items] == [
        ("LATTE", "coffee", 2, 450),
        ("CAKE", "bakery", 1, 1200),
    ]
    assert first.points_awarded == 19
    second = purchase(db_session, shop["merchant"], "R-2")
    assert second.member_id == shop["ben"]
    assert second.occurred_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert second.points_awarded == 26
    anonymous = purchase(db_session, shop["merchant"], "R-3")
    assert anonymous.member_id is None and anonymous.claim_code
    assert entries(db_session, shop["ana"]) == [("earn", 19)]
    assert entries(db_session, shop["ben"]) == [("earn", 26)]


def test_bad_rows_are_rejected_with_their_line_and_reason_and_nothing_of_them_is_written(
    app, db_session, shop, tmp_path
):
    card = shop["card"]
    path = write(
        tmp_path,
        f"sale,G-1,,2026-11-22 10:00,{card},,,LATTE,coffee,1,4.50,",
        # The second line of B-1 is bad: the first must not be recorded either.
        f"sale,B-1,,2026-11-22 11:00,{card},,,LATTE,coffee,1,4.50,",
        f"sale,B-1,,2026-11-22 11:00,{card},,,CAKE,bakery,1.5,3.00,",
        "sale,B-2,,2026-11-22 12:00,,,nobody@example.com,LATTE,coffee,1,4.50,",
        f"sale,B-3,,2026-11-22 12:30,{card},,,LATTE,coffee,1,4.505,",
        f"sale,B-4,,2026-11-22 13:00,{card},+351912345678,,LATTE,coffee,1,4.50,",
        f"sale,B-5,,2026-11-22 13:30,{card},,,LATTE,coffee,1,4.50,",
        f"sale,B-5,,2026-11-22 13:31,{card},,,LATTE,coffee,1,4.50,",
        f"sale,G-2,,2026-11-22 14:00,{card},,,LATTE,coffee,2,5.00,",
        "refund,B-6,,2026-11-22 15:00,,,,LATTE,coffee,1,4.50,",
        f"sale,B-7,,not a time,{card},,,LATTE,coffee,1,4.50,",
    )
    rejects = tmp_path / "rejects.csv"
    balance_before = entries(db_session, shop["ana"])

    result = run_import(app, path, shop["store"], "--rejects", str(rejects))

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "day.csv: 11 rows. Recorded 2 purchases (14 points awarded) and 0 returns (0 points taken back); "
        "0 already recorded; 7 rejected (9 rows)."
    )
    assert lines[1:-1] == [
        "  lines 3-4 (sale B-1): invalid_row: line 4: quantity must be a whole number from 1 to 1000000, not '1.5'.",
        "  line 5 (sale B-2): member_not_found: No member matches that identifier.",
        "  line 6 (sale B-3): invalid_row: line 6: unit_price 4.505 has more than the currency's 2 decimal places.",
        "  line 7 (sale B-4): invalid_row: line 7: name the member by one of card_number, phone or email, "
        "not card_number and phone.",
        "  lines 8-9 (sale B-5): invalid_row: line 9: occurred_at '2026-11-22 13:31' differs from line 8 of the "
        "same sale.",
        "  line 11 (refund B-6): invalid_row: line 11: kind must be sale or return, not 'refund'.",
        "  line 12 (sale B-7): invalid_row: line 12: occurred_at must be ISO 8601 such as 2026-11-22T10:15:00+08:00 "
        "or 2026-11-22 10:15, not 'not a time'.",
    ]
    assert lines[-1] == f"Rejected rows written to {rejects}."
    with rejects.open(newline="") as stream:
        written = list(csv.DictReader(stream))
    assert [(r["first_line"], r["last_line"], r["external_id"], r["reason"]) for r in written] == [
        ("3", "4", "B-1", "invalid_row"),
        ("5", "5", "B-2", "member_not_found"),
        ("6", "6", "B-3", "invalid_row"),
        ("7", "7", "B-4", "invalid_row"),
        ("8", "9", "B-5", "invalid_row"),
        ("11", "11", "B-6", "invalid_row"),
        ("12", "12", "B-7", "invalid_row"),
    ]
    assert written[0]["message"].startswith("line 4: quantity")

    for external_id in ("B-1", "B-2", "B-3", "B-4", "B-5", "B-6", "B-7"):
        assert purchase(db_session, shop["merchant"], external_id) is None, external_id
    assert count(db_session, Purchase) == 2
    assert count(db_session, PurchaseItem) == 2
    assert entries(db_session, shop["ana"]) == [*balance_before, ("earn", 4), ("earn", 10)]
    member = db_session.get(Member, shop["ana"])
    assert member.purchase_count == 2
    assert_ledger_consistent(db_session, shop["ana"])


def test_importing_the_same_file_again_awards_nothing_twice(app, db_session, shop, tmp_path):
    card = shop["card"]
    rows = [
        f"sale,R-1,,2026-11-22 10:15,{card},,,LATTE,coffee,2,4.50,",
        f"sale,R-1,,2026-11-22 10:15,{card},,,CAKE,bakery,1,12.00,2.00",
        "sale,R-2,,2026-11-22 11:00,,,ben@example.com,BEANS,coffee,3,8.99,",
    ]
    path = write(tmp_path, *rows)
    assert run_import(app, path, shop["store"]).exit_code == 0
    ledger_before = (entries(db_session, shop["ana"]), entries(db_session, shop["ben"]))

    again = run_import(app, path, shop["store"])

    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        "day.csv: 3 rows. Recorded 0 purchases (0 points awarded) and 0 returns (0 points taken back); "
        "2 already recorded; 0 rejected (0 rows)."
    ]
    assert (entries(db_session, shop["ana"]), entries(db_session, shop["ben"])) == ledger_before
    assert count(db_session, Purchase) == 2
    assert db_session.get(Member, shop["ana"]).purchase_count == 1


def test_the_same_external_id_with_other_content_is_rejected_and_changes_nothing(app, db_session, shop, tmp_path):
    card = shop["card"]
    first = run_import(app, write(tmp_path, f"sale,R-1,,2026-11-22 10:15,{card},,,LATTE,coffee,2,4.50,"), shop["store"])
    assert first.exit_code == 0, first.output
    ledger_before = entries(db_session, shop["ana"])

    changed = write(tmp_path, f"sale,R-1,,2026-11-22 10:15,{card},,,LATTE,coffee,3,4.50,", name="fixed.csv")
    result = run_import(app, changed, shop["store"])

    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith("  line 2 (sale R-1): idempotency_conflict: ")
    assert entries(db_session, shop["ana"]) == ledger_before
    assert [i.quantity for i in purchase(db_session, shop["merchant"], "R-1").items] == [2]


def test_returns_in_the_file_take_points_back_once(app, db_session, shop, tmp_path):
    card = shop["card"]
    path = write(
        tmp_path,
        f"sale,R-1,,2026-11-22 10:15,{card},,,LATTE,coffee,2,5.00,",
        f"sale,R-1,,2026-11-22 10:15,{card},,,CAKE,bakery,1,10.00,",
        "return,X-1,R-1,,,,,CAKE,,1,,",
        "return,X-2,R-404,,,,,CAKE,,1,,",
        "return,X-3,R-1,,,,,LATTE,,3,,",
    )

    first = run_import(app, path, shop["store"])
    again = run_import(app, path, shop["store"])

    assert first.exit_code == 1
    assert first.stdout.splitlines() == [
        "day.csv: 5 rows. Recorded 1 purchases (20 points awarded) and 1 returns (10 points taken back); "
        "0 already recorded; 2 rejected (2 rows).",
        "  line 5 (return X-2): not_found: No purchase of this merchant has the external_id 'R-404'.",
        "  line 6 (return X-3): return_exceeds_purchase: 3 of 'LATTE' returned, but only 2 can still be returned.",
    ]
    assert again.stdout.splitlines()[0] == (
        "day.csv: 5 rows. Recorded 0 purchases (0 points awarded) and 0 returns (0 points taken back); "
        "2 already recorded; 2 rejected (2 rows)."
    )
    sale = purchase(db_session, shop["merchant"], "R-1")
    assert (sale.returned_minor, sale.points_reversed) == (1000, 10)
    assert [i.returned_quantity for i in sale.items] == [0, 1]
    assert count(db_session, PurchaseReturn) == 1
    assert entries(db_session, shop["ana"]) == [("earn", 20), ("return", -10)]
    assert_ledger_consistent(db_session, shop["ana"])


def test_a_file_with_an_unknown_column_is_refused_before_anything_is_written(app, db_session, shop, tmp_path):
    path = write(tmp_path, "R-1,LATTE,1,4.50,2026-11-22 10:00", header="external_id,sku,quantity,price,occurred_at")

    result = run_import(app, path, shop["store"])

    assert result.exit_code == 1
    assert "Unknown column(s) 'price'" in result.output
    assert count(db_session, Purchase) == 0


def test_an_unknown_store_is_refused(app, db_session, shop, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["purchases", "import", str(write(tmp_path, "sale,R-1")), "--store", "sto_nope"]
    )
    assert result.exit_code == 1
    assert "No such store." in result.output


def test_a_large_file_is_imported_whole(app, db_session, shop, tmp_path):
    members = [make_member(db_session) for _ in range(20)]
    members = [(m.id, m.email) for m in members]
    rows = []
    expected: dict[str, int] = {member_id: 0 for member_id, _ in members}
    points = 0
    for n in range(1000):
        member_id, email = members[n % len(members)]
        minute = f"{n // 60 % 24:02d}:{n % 60:02d}"
        rows.append(f"sale,L-{n},,2026-11-20 {minute},,,{email},LATTE,coffee,1,{n % 7 + 1}.25,")
        rows.append(f"sale,L-{n},,2026-11-20 {minute},,,{email},BEANS,coffee,2,3.40,0.30")
        total = (n % 7 + 1) * 100 + 25 + 680 - 30
        expected[member_id] += total
        points += total // 100
    path = write(tmp_path, *rows)

    result = run_import(app, path, shop["store"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"day.csv: 2000 rows. Recorded 1000 purchases ({points} points awarded)")
    assert count(db_session, Purchase) == 1000
    assert count(db_session, PurchaseItem) == 2000
    db_session.expire_all()
    for member_id, _ in members:
        totals = db_session.execute(
            select(func.count(), func.sum(Purchase.total_minor), func.sum(Purchase.points_awarded)).where(
                Purchase.member_id == member_id
            )
        ).one()
        assert totals[0] == 50
        assert totals[1] == expected[member_id]
        stored = db_session.get(Member, member_id)
        assert stored.points_balance == totals[2] > 0
        assert stored.purchase_count == 50
