"""Tiers: what they add to a purchase, and how long the daily review takes.

Runs the real services in-process on a fresh database: the embedded default,
or PostgreSQL when DATABASE_URL is set. Members and their ledgers are written
in bulk (``--entries`` earn entries each, spread over the last 18 months), then:

- purchases are recorded for random members without tiers and with three
  tiers (each then also sums the member's qualifying points and may raise
  them), twice over, and their latencies compared (the first round with
  tiers raises many members; the second is the steady state);
- the review runs over every member, twice: the first run warns, raises and
  clears; the second, a day later, finds little to do.

Prints throughput and latency percentiles; nothing is asserted.

    python bench/tiers.py [--members 20000] [--entries 20] [--purchases 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LADDER = [
    {"code": "blue", "name": "Blue", "rank": 0, "qualifying_points": 0, "benefits": {}},
    {"code": "silver", "name": "Silver", "rank": 10, "qualifying_points": 1000, "benefits": {}},
    {"code": "gold", "name": "Gold", "rank": 20, "qualifying_points": 5000, "benefits": {}},
]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):6.2f} ms  p95 {pick(0.95):6.2f} ms  p99 {pick(0.99):6.2f} ms"


def populate(session, *, members: int, entries: int, now: datetime) -> list[str]:
    from sqlalchemy import insert

    from loyalty.db import new_id
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member

    rng = random.Random(7)
    ids = []
    for start in range(0, members, 5000):
        member_rows, entry_rows = [], []
        for _ in range(min(5000, members - start)):
            member_id = new_id("mbr")
            ids.append(member_id)
            points = [rng.randrange(10, 600) for _ in range(entries)]
            member_rows.append(
                {
                    "id": member_id,
                    "email": f"{member_id.lower()}@bench.example",
                    "tier_code": rng.choice(["blue", "silver", "gold", None]),
                    "points_balance": sum(points),
                }
            )
            for p in points:
                entry_rows.append(
                    {
                        "id": new_id("led"),
                        "member_id": member_id,
                        "kind": "earn",
                        "points": p,
                        "balance_after": 0,
                        "lot_remaining": p,
                        "created_at": now - timedelta(days=rng.randrange(0, 540)),
                        "available_at": now,
                        "actor_kind": "system",
                        "actor_name": "bench",
                        "breakdown": [],
                    }
                )
        session.execute(insert(Member), member_rows)
        session.execute(insert(LedgerEntry), entry_rows)
        session.commit()
    return ids


def time_purchases(session, store, member_ids: list[str], count: int, tag: str) -> list[float]:
    from loyalty.actors import cli_actor
    from loyalty.purchases.services import record_purchase
    from rules import RuleSet

    base = {"type": "per_amount", "points": 1, "per_minor": 100}
    rules = RuleSet.build([{"id": "rul_base", "name": "Base", "priority": 0, "effect": base}], version=1)
    timings = []
    for n in range(count):
        t0 = time.perf_counter()
        record_purchase(
            session,
            store_id=store.id,
            terminal_id=None,
            external_id=f"{tag}-{n}",
            member_ref={"member_id": random.choice(member_ids)},
            occurred_at=datetime.now(UTC),
            currency="EUR",
            total_minor=random.randrange(100, 20000),
            items=[],
            fingerprint=f"{tag}-{n}",
            ruleset=rules,
            actor=cli_actor(),
        )
        session.commit()
        timings.append(time.perf_counter() - t0)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--purchases", type=int, default=1000)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade

    from loyalty.actors import cli_actor
    from loyalty.db import unit_of_work
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.program.services import update_program
    from loyalty.tiers.jobs import review_tiers
    from loyalty.tiers.services import replace_tiers
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        print(f"database: {database}  members: {args.members}  entries each: {args.entries}")
        now = datetime.now(UTC)
        with unit_of_work() as session:
            update_program(session, changes={"pending_days": 0}, actor=cli_actor())
            merchant = Merchant(name=f"Bench {random.randrange(10**6)}", contact_email="bench@example.com")
            session.add(merchant)
            session.flush()
            store = add_store(session, merchant_id=merchant.id, name="Bench store", timezone="UTC", actor=cli_actor())
        started = time.perf_counter()
        with unit_of_work() as session:
            member_ids = populate(session, members=args.members, entries=args.entries, now=now)
        print(f"populate {time.perf_counter() - started:8.1f} s")

        # Alternately without and with tiers, so that the machine's load weighs on both alike.
        for round_ in range(1, 3):
            for tiers in ([], LADDER):
                with unit_of_work() as session:
                    replace_tiers(session, tiers=tiers, actor=cli_actor())
                with unit_of_work() as session:
                    timings = time_purchases(session, store, member_ids, args.purchases, f"r{round_}-{len(tiers)}")
                print(f"purchase, {len(tiers)} tiers, round {round_}  {percentiles(timings)}")

        for label, at in (("first", now), ("next day", now + timedelta(days=1))):
            started = time.perf_counter()
            counts = review_tiers(now=at)
            elapsed = time.perf_counter() - started
            print(f"review {label:9s} {elapsed:7.2f} s  {args.members / elapsed:9.0f} members/s  {counts}")


if __name__ == "__main__":
    main()
