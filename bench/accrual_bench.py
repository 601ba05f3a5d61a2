"""Purchases in real time under load: gunicorn, PostgreSQL and Redis on this machine.

Seeds a program with 100 active rules and 100,000 members, serves it with
gunicorn, and sends signed ``POST /purchases`` with realistic baskets from an
asyncio load generator (keep-alive connections, one process). Prints:

- the sustained rate (closed loop: every connection sends again as soon as it is answered);
- latency p50/p95/p99 at 80% of that rate (open loop: requests leave on a fixed
  schedule, latency counted from the scheduled time, so queueing is included);
- the same closed-loop rate for a bare-minimum endpoint (one INSERT and one
  UPDATE with psycopg, no framework: bench/reference_app.py), and the ratio;
- the rate when every purchase is for one member (the hot-member case);
- the framework floor: the same work as the bare minimum, done by a route of the
  service's own Flask application (bench/floor_app.py), i.e. what the stack
  costs before any loyalty logic runs.

The load generator shares the two cores with gunicorn and PostgreSQL, so the
figures are a floor. Nothing is asserted.

    python bench/accrual_bench.py [--members 100000] [--rules 100] [--seconds 15] [--workers 4] [--seed-only]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from bench.machine import StealWatch  # noqa: E402

CATALOG = [
    ("LATTE", "coffee", 450),
    ("ESPRESSO", "coffee", 150),
    ("FLAT-WHITE", "coffee", 420),
    ("CROISSANT", "pastry", 320),
    ("MUFFIN", "pastry", 380),
    ("BAGEL", "bakery", 290),
    ("BEANS-250", "retail", 1200),
    ("MUG", "retail", 1500),
    ("SANDWICH", "food", 650),
    ("JUICE", "drinks", 390),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- setting up -----------------------------------------------------------------------------------


def fresh_database(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return target.render_as_string(hide_password=False)


def rule_specs(count: int, merchant_ids: list[str]) -> list[dict]:
    """A mixed rule set: a base rate, category and SKU offers, weekday and hour windows, tiers, big baskets."""
    rng = random.Random(7)
    specs = [{"name": "Base rate", "priority": 0, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}}]
    for n in range(count - 1):
        merchant = None if n % 5 == 0 else merchant_ids[n % len(merchant_ids)]
        sku, category, _price = rng.choice(CATALOG)
        kind = n % 6
        if kind == 0:
            spec = {
                "condition": f'"{category}" in purchase.categories',
                "effect": {"type": "per_item", "points": 2, "category": category},
            }
        elif kind == 1:
            spec = {"condition": f'"{sku}" in purchase.skus', "effect": {"type": "per_item", "points": 3, "sku": sku}}
        elif kind == 2:
            day = rng.choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
            spec = {"condition": f'purchase.local_weekday == "{day}"', "effect": {"type": "multiplier", "percent": 150}}
        elif kind == 3:
            start = rng.randrange(6, 20)
            spec = {
                "condition": f"purchase.local_hour >= {start} and purchase.local_hour < {start + 2}",
                "effect": {"type": "bonus", "points": 10},
                "limits": {"per_member": {"times": 1, "period": "day"}},
            }
        elif kind == 4:
            spec = {
                "condition": f"purchase.total_minor >= {rng.choice([1500, 2500, 5000])}",
                "effect": {"type": "bonus", "points": 25},
            }
        else:
            spec = {
                "condition": 'member.tier == "gold" or member.purchase_count > 10',
                "effect": {"type": "multiplier", "percent": 120},
                "limits": {"budget_points": 10_000_000},
            }
        specs.append({"name": f"Offer {n}", "priority": rng.randrange(1, 200), "merchant_id": merchant, **spec})
    return specs


def seed(members: int, rules: int, *, points: int = 0, rewards: int = 0, expiry_months: int | None = None) -> dict:
    """Program, merchants, one store and terminal, rules, members; returns what the load needs.

    Every member has a card and a mobile number (``+35191`` and seven digits). With
    ``points``, each holds that many available points as one opening lot, so balances
    equal the sum of their entries; with ``rewards``, that many rewards are offered.
    """
    from sqlalchemy import insert, select, text

    from loyalty.actors import cli_actor
    from loyalty.db import new_id, unit_of_work, utcnow
    from loyalty.earning.services import activate_rule, create_rule
    from loyalty.members import cards
    from loyalty.members.models import Member
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store, add_terminal
    from loyalty.program.services import update_program
    from loyalty.rewards.catalog import create_reward
    from wsgi import create_app

    app = create_app()
    actor = cli_actor("bench")
    with app.app_context(), unit_of_work() as session:
        changes = {"pending_days": 14, "timezone": "Europe/Lisbon"}
        if expiry_months is not None:
            changes["expiry_months"] = expiry_months
        update_program(session, changes=changes, actor=actor)
        merchant_ids = []
        for n in range(10):
            merchant = Merchant(name=f"Bench merchant {n}", contact_email=f"m{n}@bench.example")
            session.add(merchant)
            session.flush()
            merchant_ids.append(merchant.id)
        store = add_store(
            session, merchant_id=merchant_ids[0], name="Bench store", timezone="Europe/Lisbon", actor=actor
        )
        _terminal, key, secret = add_terminal(session, store_id=store.id, name="Bench till", actor=actor)
        for spec in rule_specs(rules, merchant_ids):
            rule = create_rule(session, rule=spec, actor=actor)
            activate_rule(session, rule_id=rule.id, actor=actor)
        reward_ids = [
            create_reward(session, reward={"name": f"Reward {n}", "points_cost": 500 + 250 * n}, actor=actor).id
            for n in range(rewards)
        ]
        now = utcnow()
        started = time.perf_counter()
        # Drawn at random, 100,000 card numbers collide once in about 20 seeds: draw until they are distinct.
        card_numbers: set[str] = set()
        while len(card_numbers) < members:
            card_numbers.add(cards.new_card_number())
        card_numbers_left = iter(card_numbers)
        for offset in range(0, members, 5000):
            rows = [
                {
                    "id": new_id("mbr"),
                    "card_number": next(card_numbers_left),
                    "email": f"member{n}@bench.example",
                    "phone": f"+35191{n:07d}",
                    "locale": "en",
                    "marketing_opt_in": False,
                    "status": "active",
                    "enrolled_at": now,
                    "lifecycle_stage": "prospect",
                    "points_balance": points,
                    "points_debt": 0,
                    "purchase_count": 0,
                    "updated_at": now,
                }
                for n in range(offset, min(members, offset + 5000))
            ]
            session.execute(insert(Member), rows)
        if points:
            # Each member's points: one available lot, so balances equal the sum of their entries.
            session.execute(
                text(
                    """
                    INSERT INTO ledger_entries (id, member_id, kind, points, balance_after, created_at,
                                                available_at, expires_at, breakdown, note, actor_kind,
                                                actor_name, lot_remaining)
                    SELECT 'led_seed' || substr(id, 5), id, 'adjust', :points, :points, :now, :now,
                           :now + interval '2 years', '[]', 'Opening balance', 'system', 'bench', :points
                    FROM members
                    """
                ),
                {"points": points, "now": now},
            )
        session.execute(text("ANALYZE"))
        print(
            f"seeded {members} members ({points} points each) in {time.perf_counter() - started:.1f} s, "
            f"{rules} active rules, {rewards} rewards"
        )
        people = session.execute(select(Member.id, Member.card_number, Member.phone)).all()
    return {
        "key": key,
        "secret": secret,
        "cards": [row.card_number for row in people],
        "members": [tuple(row) for row in people],
        "rewards": reward_ids,
    }


def reference_schema(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_reference_events (id bigserial PRIMARY KEY, external_id text, total_minor bigint)"
        )
        conn.execute("CREATE TABLE bench_reference_accounts (id int PRIMARY KEY, points bigint NOT NULL)")
        conn.execute("INSERT INTO bench_reference_accounts SELECT g, 0 FROM generate_series(1, 100000) g")


def serve(app_path: str, port: int, workers: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            *(str(BIN / "gunicorn"), app_path, "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"),
            # More gunicorn options for a comparison, e.g. BENCH_GUNICORN_ARGS="-k gthread --threads 1".
            *os.environ.get("BENCH_GUNICORN_ARGS", "").split(),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    time.sleep(1.5)  # let every worker finish importing
    return process


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


# -- the load -------------------------------------------------------------------------------------


class Target:
    """Builds one request's bytes: a signed purchase, or a reference call."""

    def __init__(
        self,
        port: int,
        *,
        key: str = "",
        secret: str = "",
        cards: list[str] | None = None,
        reference: bool = False,
        path: str = "/",
    ):
        self.port, self.key, self.secret, self.cards, self.reference = port, key, secret, cards or [], reference
        self.path = path
        self.counter = 0
        self.rng = random.Random(11)
        self.hot_card: str | None = None

    def request(self) -> bytes:
        self.counter += 1
        lines = self.rng.sample(CATALOG, self.rng.randint(1, 4))
        items = [
            {"sku": s, "category": c, "quantity": self.rng.randint(1, 3), "unit_price_minor": p} for s, c, p in lines
        ]
        total = sum(i["quantity"] * i["unit_price_minor"] for i in items)
        external_id = f"B-{os.getpid()}-{time.monotonic_ns()}-{self.counter}"
        if self.reference:
            body = json.dumps(
                {"external_id": external_id, "total_minor": total, "account": self.rng.randint(1, 100000)}
            )
            path, headers = self.path, ""
        else:
            card = self.hot_card or self.rng.choice(self.cards)
            body = json.dumps(
                {
                    "external_id": external_id,
                    "member": {"card_number": card},
                    "currency": "EUR",
                    "total_minor": total,
                    "items": items,
                }
            )
            path = "/api/v1/purchases"
            timestamp = str(int(time.time()))
            message = f"{timestamp}.POST.{path}.{body}".encode()
            digest = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
            headers = (
                f"Authorization: Bearer {self.key}\r\nX-Loyalty-Timestamp: {timestamp}\r\n"
                f"X-Loyalty-Signature: v1={digest}\r\n"
            )
        data = body.encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data


class Connection:
    """One HTTP/1.1 connection, opened again whenever the server closes it (gunicorn's sync workers do)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def exchange(self, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(payload)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(target: Target, connections: int, seconds: float) -> dict:
    done, errors, latencies = 0, 0, []
    steal = StealWatch()
    deadline = time.perf_counter() + seconds

    async def client():
        nonlocal done, errors
        connection = Connection(target.port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await connection.exchange(target.request())
            latencies.append(time.perf_counter() - started)
            if status in (200, 201):
                done += 1
            else:
                errors += 1
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"rate": done / elapsed, "errors": errors, "latencies": sorted(latencies), "steal": steal.share()}


async def open_loop(target: Target, rate: float, connections: int, seconds: float) -> dict:
    """Requests scheduled at a fixed rate; latency from the scheduled time, so waiting counts."""
    queue: asyncio.Queue[float] = asyncio.Queue()
    latencies, errors = [], 0
    steal = StealWatch()
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    for n in range(total):
        queue.put_nowait(start + n / rate)

    async def client():
        nonlocal errors
        connection = Connection(target.port)
        while not queue.empty():
            scheduled = queue.get_nowait()
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await connection.exchange(target.request())
            latencies.append(time.perf_counter() - scheduled)
            if status not in (200, 201):
                errors += 1
        connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    rate = total / (time.perf_counter() - began)
    return {"rate": rate, "errors": errors, "latencies": sorted(latencies), "steal": steal.share()}


def line(label: str, result: dict) -> str:
    lat = result["latencies"]
    return (
        f"{label:38s} {result['rate']:8.1f} /s   p50 {percentile(lat, 0.5):6.1f} ms"
        f"  p95 {percentile(lat, 0.95):6.1f} ms  p99 {percentile(lat, 0.99):6.1f} ms   errors {result['errors']}"
        f"   {result['steal']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/loyalty_bench_accrual")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--seed-only", action="store_true", help="seed the database and stop (for bench/cpu_per_request.py)"
    )
    args = parser.parse_args()

    database_url = fresh_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url, "SECRET_KEY": "bench-secret"}
    env.update(LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    os.environ.update(env)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    seeded = seed(args.members, args.rules)
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    reference_schema(dsn)
    if args.seed_only:
        return

    port = free_port()
    service = serve("wsgi:app", port, args.workers, env)
    try:
        target = Target(port, key=seeded["key"], secret=seeded["secret"], cards=seeded["cards"])
        asyncio.run(closed_loop(target, args.connections, 3))  # warm the caches and the rule set
        sustained = asyncio.run(closed_loop(target, args.connections, args.seconds))
        print(line("purchases, closed loop (sustained)", sustained))
        at_80 = asyncio.run(open_loop(target, sustained["rate"] * 0.8, args.connections * 2, args.seconds))
        print(line(f"purchases at 80% ({sustained['rate'] * 0.8:.0f}/s offered)", at_80))
        target.hot_card = seeded["cards"][0]
        hot = asyncio.run(closed_loop(target, args.connections, args.seconds))
        print(line("purchases, one hot member", hot))
    finally:
        stop(service)

    reference_port = free_port()
    reference = serve("bench.reference_app:app", reference_port, args.workers, {**env, "REFERENCE_DSN": dsn})
    try:
        ref_target = Target(reference_port, reference=True)
        asyncio.run(closed_loop(ref_target, args.connections, 3))
        bare = asyncio.run(closed_loop(ref_target, args.connections, args.seconds))
        print(line("bare minimum (INSERT + UPDATE, psycopg)", bare))
    finally:
        stop(reference)

    floor_port = free_port()
    floor_service = serve("bench.floor_app:app", floor_port, args.workers, env)
    try:
        floor_target = Target(floor_port, reference=True, path="/floor")
        asyncio.run(closed_loop(floor_target, args.connections, 3))
        floor = asyncio.run(closed_loop(floor_target, args.connections, args.seconds))
        print(line("framework floor (same work, Flask app)", floor))
    finally:
        stop(floor_service)

    print()
    print(f"full path / bare minimum: {sustained['rate'] / bare['rate']:.2f}")
    print(f"one hot member / spread:  {hot['rate'] / sustained['rate']:.2f}")
    print(f"framework floor / bare:   {floor['rate'] / bare['rate']:.2f}  (the stack alone, no loyalty logic)")


if __name__ == "__main__":
    main()
