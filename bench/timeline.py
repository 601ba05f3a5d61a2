"""The member's timeline and the case queue: how long a page takes for a member with a long history.

Runs the real queries in-process on a fresh database: the embedded default, or
PostgreSQL when DATABASE_URL is set. Writes, in bulk, ``--members`` background
members with ``--entries`` ledger entries each (so that the indexes, not the
table sizes, decide), and one heavy member with ``--heavy`` items of every kind
(purchases, ledger entries, redemptions, tier changes, stage changes, campaign
messages, claims, cases and notes), then times:

- the first page of the heavy member's timeline (limit 50, every kind);
- walking 20 pages with the cursor;
- a page of one kind (`note`) deep in the history;
- a page of the case queue over ``--cases`` cases.

Prints latency percentiles; nothing is asserted.

    python bench/timeline.py [--members 2000] [--entries 50] [--heavy 5000] [--cases 20000]
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


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):7.2f} ms  p95 {pick(0.95):7.2f} ms  max {ordered[-1] * 1000:7.2f} ms"


def populate(session, *, store, members: int, entries: int, heavy: int, cases: int, now: datetime) -> str:
    from sqlalchemy import insert

    from loyalty.analytics.models import LifecycleStageChange
    from loyalty.audit.models import AuditEvent
    from loyalty.campaigns.models import Contact
    from loyalty.cases.models import ServiceCase, ServiceNote
    from loyalty.db import new_id
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member
    from loyalty.purchases.models import Purchase
    from loyalty.rewards.models import Redemption

    rng = random.Random(11)

    def when() -> datetime:
        return now - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))

    def entry(member_id: str) -> dict:
        return {
            "id": new_id("led"),
            "member_id": member_id,
            "kind": "earn",
            "points": 10,
            "balance_after": 0,
            "created_at": when(),
            "actor_kind": "system",
            "actor_name": "bench",
            "breakdown": [],
        }

    ids = [new_id("mbr") for _ in range(members)]
    heavy_id = new_id("mbr")
    session.execute(insert(Member), [{"id": i, "email": f"{i.lower()}@bench.example"} for i in [*ids, heavy_id]])
    for start in range(0, members, 1000):
        session.execute(insert(LedgerEntry), [entry(m) for m in ids[start : start + 1000] for _ in range(entries)])

    purchases = [
        {
            "id": new_id("pur"),
            "merchant_id": store.merchant_id,
            "store_id": store.id,
            "external_id": new_id("R"),
            "request_hash": "bench",
            "member_id": heavy_id,
            "occurred_at": when(),
            "currency": "EUR",
            "total_minor": 1000,
            "points_awarded": 10,
            "breakdown": [],
            "claimed_at": when() if i % 10 == 0 else None,
        }
        for i in range(heavy)
    ]
    session.execute(insert(Purchase), purchases)
    session.execute(insert(LedgerEntry), [entry(heavy_id) for _ in range(heavy)])
    session.execute(
        insert(Redemption),
        [
            {
                "id": new_id("rdm"),
                "member_id": heavy_id,
                "kind": "points",
                "idempotency_key": new_id("k"),
                "request_hash": "bench",
                "points": 100,
                "status": "issued",
                "created_at": when(),
            }
            for _ in range(heavy)
        ],
    )
    session.execute(
        insert(AuditEvent),
        [
            {
                "id": new_id("aud"),
                "actor_kind": "system",
                "actor_name": "bench",
                "action": "member.tier_rise",
                "object_type": "member",
                "object_id": heavy_id,
                "data": {"from": None, "to": "gold"},
                "created_at": when(),
            }
            for _ in range(heavy)
        ],
    )
    session.execute(
        insert(LifecycleStageChange),
        [{"member_id": heavy_id, "from_stage": "growth", "to_stage": "maturity", "changed_at": when()}] * heavy,
    )
    session.execute(insert(Contact), [{"member_id": heavy_id, "channel": "email", "contacted_at": when()}] * heavy)
    case_rows = [
        {
            "id": new_id("case"),
            "member_id": heavy_id if i < heavy else rng.choice(ids),
            "kind": "missing_points",
            "source": "staff",
            "priority": rng.choice(["urgent", "normal", "normal", "normal"]),
            "status": rng.choice(["open", "in_progress", "resolved", "rejected"]),
            "subject": "Missing points",
            "opened_by_kind": "cli",
            "opened_by_name": "bench",
            "opened_at": when(),
            "updated_at": now,
        }
        for i in range(max(cases, heavy))
    ]
    session.execute(insert(ServiceCase), case_rows)
    session.execute(
        insert(ServiceNote),
        [
            {"member_id": heavy_id, "body": "note", "author_kind": "cli", "author_name": "bench", "created_at": when()}
            for _ in range(heavy)
        ],
    )
    return heavy_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--heavy", type=int, default=5000)
    parser.add_argument("--cases", type=int, default=20000)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade

    from loyalty.actors import cli_actor
    from loyalty.cases.queries import list_cases
    from loyalty.db import unit_of_work
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.timeline.queries import member_timeline
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        print(f"database: {database}  members: {args.members} x {args.entries} entries  heavy: {args.heavy} per kind")
        now = datetime.now(UTC)
        with unit_of_work() as session:
            merchant = Merchant(name=f"Bench {random.randrange(10**6)}", contact_email="bench@example.com")
            session.add(merchant)
            session.flush()
            store = add_store(session, merchant_id=merchant.id, name="Bench store", timezone="UTC", actor=cli_actor())
        started = time.perf_counter()
        with unit_of_work() as session:
            heavy_id = populate(
                session,
                store=store,
                members=args.members,
                entries=args.entries,
                heavy=args.heavy,
                cases=args.cases,
                now=now,
            )
        print(f"populate {time.perf_counter() - started:8.1f} s")

        with unit_of_work() as session:
            first = []
            for _ in range(30):
                t = time.perf_counter()
                member_timeline(session, member_id=heavy_id, limit=50)
                first.append(time.perf_counter() - t)
            print(f"first page, every kind (50)      {percentiles(first)}")

            walk, cursor = [], None
            for _ in range(20):
                t = time.perf_counter()
                page = member_timeline(session, member_id=heavy_id, limit=50, cursor=cursor)
                walk.append(time.perf_counter() - t)
                cursor = page.next_cursor
            print(f"20 pages by cursor, every kind   {percentiles(walk)}")

            deep, cursor = [], cursor
            for _ in range(20):
                t = time.perf_counter()
                page = member_timeline(session, member_id=heavy_id, limit=50, cursor=cursor, kinds=["note"])
                deep.append(time.perf_counter() - t)
                cursor = page.next_cursor or cursor
            print(f"notes only, deep in the history  {percentiles(deep)}")

            queue, cursor = [], None
            for _ in range(20):
                t = time.perf_counter()
                page = list_cases(session, actor=cli_actor(), limit=50, cursor=cursor, status="open")
                queue.append(time.perf_counter() - t)
                cursor = page.next_cursor
            print(f"case queue, open, 20 pages       {percentiles(queue)}")


if __name__ == "__main__":
    main()
