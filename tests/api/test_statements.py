"""GET /merchants/{id}/statements, /statements/{id} and its CSV: a merchant's closed statements."""

from __future__ import annotations

import csv
import io

from loyalty.actors import cli_actor
from loyalty.program.services import update_program
from tests.api.test_authorization import close_this_month
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_settlement import OPERATOR_BASE, active_rule, active_rules, set_funding


def test_a_merchant_reads_its_statement_and_downloads_its_lines_as_csv(client, db_session):
    update_program(db_session, changes={"pending_days": 0}, actor=cli_actor())
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id)
    active_rule(db_session, **OPERATOR_BASE)
    active_rule(db_session, merchant_id=merchant.id, effect={"type": "bonus", "points": 30})
    set_funding(db_session, merchant.id, issue_price_minor=5, issue_per_points=10)
    rules = active_rules(db_session)
    for total in (4250, 1000):
        buy(db_session, store, member=make_member(db_session), rules=rules, total_minor=total)
    statement = close_this_month(db_session, merchant.id)
    key = make_key(db_session, "merchant", merchant_id=merchant.id)

    listed = client.get(f"/api/v1/merchants/{merchant.id}/statements", headers=bearer(key))
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json["items"]] == [statement.id]
    body = client.get(f"/api/v1/statements/{statement.id}", headers=bearer(key)).json
    assert (body["merchant_points"], body["operator_points"], body["issued_amount_minor"]) == (60, 52, 30)
    assert body["net_minor"] == 30 and body["currency"] and body["period_start"].endswith("-01")

    download = client.get(f"/api/v1/statements/{statement.id}.csv", headers=bearer(key))
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    header, lines = rows[0], [r for r in rows[1:] if r[0].startswith("led_")]
    assert header[:3] == ["entry_id", "created_at", "kind"]
    assert len(lines) == 2
    assert sum(int(r[5]) for r in lines) == 60 and sum(int(r[6]) for r in lines) == 52
    assert ["net_minor", "30", body["currency"]] in rows


def test_another_merchants_statement_is_not_found(client, db_session):
    mine, theirs = make_merchant(db_session), make_merchant(db_session)
    statement = close_this_month(db_session, theirs.id)
    key = make_key(db_session, "merchant", merchant_id=mine.id)
    assert client.get(f"/api/v1/statements/{statement.id}", headers=bearer(key)).status_code == 404
    assert client.get(f"/api/v1/statements/{statement.id}.csv", headers=bearer(key)).status_code == 404
    assert client.get(f"/api/v1/merchants/{theirs.id}/statements", headers=bearer(key)).status_code == 404
