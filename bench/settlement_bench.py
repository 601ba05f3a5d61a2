"""Settlement: what prepaid funding adds to a purchase, and how long closing a month's statement takes.

Runs the real services in-process on a fresh database: the embedded default,
or PostgreSQL when DATABASE_URL is set. Two merchants with the same rules (the
operator's 1 point per euro and a bonus of their own), one on prepaid funding:

- purchases are recorded at each, alternately, and the SQL statements of one
  purchase and the latency percentiles compared;
- some purchases are returned, then the month's statement of the busier
  merchant is closed and its lines per second printed; the liability figures
  and the breakage estimate are computed and timed.

Prints figures; nothing is asserted.

    python bench/settlement_bench.py [--purchases 2000] [--returns 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):6.2f} ms  p95 {pick(0.95):6.2f} ms  p99 {pick(0.99):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--returns", type=int, default=200)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade
    from sqlalchemy import event

    from loyalty.actors import cli_actor
    from loyalty.db import unit_of_work
    from loyalty.earning.services import activate_rule, create_rule
    from loyalty.members.services import enrol_member
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.program.services import update_program
    from loyalty.purchases.returns import return_purchase
    from loyalty.purchases.services import record_purchase
    from loyalty.settlement.funding import top_up_prepaid, update_funding
    from loyalty.settlement.liability import estimate_breakage, monthly_flows, outstanding_by_merchant
    from loyalty.settlement.statements import close_statement, month_start, next_month
    from web.extensions import db
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}  purchases: {args.purchases}")
        actor = cli_actor()
        with unit_of_work() as session:
            update_program(session, changes={"pending_days": 0, "timezone": "UTC"}, actor=actor)
            stores = {}
            for label in ("plain", "prepaid"):
                merchant = Merchant(name=f"Bench {label}", contact_email="bench@example.com")
                session.add(merchant)
                session.flush()
                stores[label] = add_store(session, merchant_id=merchant.id, name=label, timezone="UTC", actor=actor)
                rule = create_rule(
                    session,
                    rule={
                        "name": f"{label} bonus",
                        "merchant_id": merchant.id,
                        "effect": {"type": "bonus", "points": 5},
                    },
                    actor=actor,
                )
                activate_rule(session, rule_id=rule.id, actor=actor)
            base = create_rule(
                session,
                rule={"name": "Base", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
                actor=actor,
            )
            activate_rule(session, rule_id=base.id, actor=actor)
            prepaid_id = stores["prepaid"].merchant_id
            update_funding(session, merchant_id=prepaid_id, changes={"prepaid": True}, actor=actor)
            top_up_prepaid(session, merchant_id=prepaid_id, points=10**9, amount_minor=0, actor=actor)
            member_ids = [
                enrol_member(
                    session,
                    email=f"bench{n}@example.com",
                    phone=None,
                    name=None,
                    locale="en",
                    marketing_opt_in=False,
                    actor=actor,
                ).id
                for n in range(200)
            ]

        timings: dict[str, list[float]] = {"plain": [], "prepaid": []}
        statements: dict[str, int] = {}
        purchase_ids: dict[str, list[str]] = {"plain": [], "prepaid": []}
        for n in range(args.purchases):
            for label in ("plain", "prepaid"):
                counted: list[str] = []
                with unit_of_work() as session:
                    connection = session.connection()
                    listener = lambda *a, seen=counted: seen.append(a[2])  # noqa: E731
                    event.listen(connection, "before_cursor_execute", listener)
                    started = time.perf_counter()
                    outcome = record_purchase(
                        session,
                        store_id=stores[label].id,
                        terminal_id=None,
                        external_id=f"B-{label}-{n}",
                        member_ref={"member_id": member_ids[n % len(member_ids)]},
                        occurred_at=datetime.now(UTC),
                        currency="EUR",
                        total_minor=1000 + n % 5000,
                        items=[],
                        fingerprint=f"B-{label}-{n}",
                        actor=actor,
                    )
                    session.commit()
                    timings[label].append(time.perf_counter() - started)
                    event.remove(connection, "before_cursor_execute", listener)
                statements[label] = len(counted)
                purchase_ids[label].append(outcome.receipt["id"])
        for label in ("plain", "prepaid"):
            print(f"purchase, {label:8s} {statements[label]:3d} statements  {percentiles(timings[label][50:])}")

        for n, purchase_id in enumerate(purchase_ids["plain"][: args.returns]):
            with unit_of_work() as session:
                return_purchase(
                    session,
                    purchase_id=purchase_id,
                    external_id=f"R-{n}",
                    items=None,
                    amount_minor=500,
                    fingerprint=f"R-{n}",
                    actor=actor,
                )
        period = month_start(datetime.now(UTC).date())
        following = next_month(period)
        started = time.perf_counter()
        with unit_of_work() as session:
            statement = close_statement(
                session,
                merchant_id=stores["plain"].merchant_id,
                period_start=period,
                actor=actor,
                now=datetime(following.year, following.month, 1, tzinfo=UTC) + timedelta(days=1),
            )
        elapsed = time.perf_counter() - started
        print(
            f"statement close  {statement.line_count} lines in {elapsed:6.2f} s  "
            f"{statement.line_count / elapsed:8.0f} lines/s  net {statement.net_minor}"
        )
        for name, fn in (
            ("liability by merchant", lambda: outstanding_by_merchant(db.session)),
            ("monthly flows", lambda: monthly_flows(db.session)),
            ("breakage estimate", lambda: estimate_breakage(db.session)),
        ):
            started = time.perf_counter()
            fn()
            print(f"{name:22s} {1000 * (time.perf_counter() - started):8.1f} ms")


if __name__ == "__main__":
    main()
