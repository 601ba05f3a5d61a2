"""The member portal's pages: how long each takes to serve for a member with a long history.

Runs the real application in-process (Flask's test client, over HTTPS, signed
in) on a fresh database: the embedded default, or PostgreSQL when DATABASE_URL
is set. One member gets ``--entries`` ledger entries over two years (purchases
at ``--stores`` stores with rule breakdowns, some returns and adjustments),
every earned lot still open and expiring 24 months after it was earned (so
those of the oldest months expire within 90 days), tiers and a catalog of ``--rewards``. Then
each page is fetched ``--rounds`` times; the sign-in (one Argon2 hash) is
timed on its own.

Prints latency percentiles per page; nothing is asserted.

    python bench/portal_pages.py [--entries 5000] [--stores 20] [--rewards 50] [--rounds 50]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = "https://portal.bench"
EMAIL, PASSWORD = "bench@example.com", "tide-lantern-43"
LADDER = [
    {"code": "blue", "name": "Blue", "rank": 0, "qualifying_points": 0, "benefits": {}},
    {"code": "silver", "name": "Silver", "rank": 10, "qualifying_points": 1000, "benefits": {"bonus_percent": 10}},
    {"code": "gold", "name": "Gold", "rank": 20, "qualifying_points": 50000, "benefits": {"bonus_percent": 25}},
]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):7.2f} ms  p95 {pick(0.95):7.2f} ms  max {ordered[-1] * 1000:7.2f} ms"


def populate(session, *, entries: int, stores: int, rewards: int) -> str:
    from sqlalchemy import insert

    from loyalty.accounts.services import sign_up
    from loyalty.actors import cli_actor
    from loyalty.db import new_id, utcnow
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.rewards.services import create_reward
    from loyalty.tiers.services import replace_tiers

    actor = cli_actor("bench")
    replace_tiers(session, tiers=LADDER, actor=actor)
    member = sign_up(session, email=EMAIL, password=PASSWORD, name="Bench Member", locale="en").member
    places = []
    for n in range(stores):
        merchant = Merchant(name=f"Partner {n}", contact_email=f"p{n}@example.com")
        session.add(merchant)
        session.flush()
        store = add_store(session, merchant_id=merchant.id, name=f"Partner {n}, High St", timezone="UTC", actor=actor)
        places.append((merchant.id, store.id))
    for n in range(rewards):
        create_reward(session, reward={"name": f"Reward {n}", "points_cost": 50 * (n + 1)}, actor=actor)

    rng = random.Random(11)
    now = utcnow()
    rows, balance = [], 0
    for n in range(entries):
        created = now - timedelta(days=730) + timedelta(minutes=int(n * 730 * 24 * 60 / entries))
        merchant_id, store_id = rng.choice(places)
        kind = "earn" if n % 10 else rng.choice(["return", "adjust"])
        points = rng.randrange(5, 80) if kind != "return" else -rng.randrange(1, 5)
        balance += points
        # As the program's default 24 months of life: lots from about two years ago expire within 90 days.
        expires = created + timedelta(days=730 + rng.randrange(0, 30)) if kind == "earn" else None
        rows.append(
            {
                "id": new_id("led"),
                "member_id": member.id,
                "kind": kind,
                "points": points,
                "balance_after": balance,
                "created_at": created,
                "available_at": created,
                "expires_at": expires,
                "merchant_id": merchant_id,
                "store_id": store_id,
                "breakdown": [{"rule_id": "rul_x", "rule_name": "One point per euro", "points": points}],
                "note": "bench" if kind == "adjust" else None,
                "actor_kind": "system",
                "actor_name": "bench",
                "lot_remaining": max(points, 0) if kind == "earn" else None,
            }
        )
    for start in range(0, len(rows), 5000):
        session.execute(insert(LedgerEntry), rows[start : start + 5000])
    stored = session.get(Member, member.id)
    stored.points_balance = sum(r["lot_remaining"] or 0 for r in rows)
    session.commit()
    return member.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--rewards", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade

    from loyalty.db import unit_of_work
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        with unit_of_work() as session:
            populate(session, entries=args.entries, stores=args.stores, rewards=args.rewards)

    client = app.test_client()
    page = client.get("/portal/login", base_url=BASE).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    started = time.perf_counter()
    response = client.post(
        "/portal/login",
        base_url=BASE,
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        headers={"Referer": f"{BASE}/portal/login"},
    )
    signed_in = time.perf_counter() - started
    assert response.status_code == 302, response.get_data(as_text=True)
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(f"{args.entries} ledger entries, {args.stores} stores, {args.rewards} rewards; {database}")
    print(f"  log in (one Argon2id hash)      {signed_in * 1000:7.2f} ms")

    for path in (
        "/portal/",
        "/portal/activity",
        "/portal/activity?kind=earn",
        "/portal/rewards",
        "/portal/redemptions",
        "/portal/profile",
    ):
        samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            response = client.get(path, base_url=BASE)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
        size = len(response.get_data())
        print(f"  GET {path:28} {percentiles(samples)}  {size / 1024:5.1f} KiB")


if __name__ == "__main__":
    main()
