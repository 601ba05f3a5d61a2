"""CPU spent per request, in the service's process and in its PostgreSQL backend, whatever else runs.

Throughput on a shared 2-core machine moves with every other process; CPU time
does not (much). This drives three handlers in-process through their WSGI
interfaces (no HTTP server, no load generator) against the database
``bench/accrual_bench.py`` seeded, and prints for each the CPU per request of
this Python process and of the PostgreSQL backends it used (read from /proc):

- the full purchase path: a signed ``POST /purchases`` with a realistic basket;
- a till's batch: a signed ``POST /purchases/batch`` of 100 such sales, per sale;
- the framework floor (bench/floor_app.py): one INSERT and one UPDATE in the service's own Flask app;
- the bare minimum (bench/reference_app.py): the same two statements with psycopg and no framework.

Run ``bench/accrual_bench.py`` first (it leaves its database seeded; ``--seed-only``
seeds it and stops). ``--only purchase`` or ``--only batch`` measures one path;
``--profile FILE`` also writes its cProfile statistics (read them with pstats),
and ``--statements`` counts the SQL statements per sale.

With ``--mode lookup`` it drives signed ``GET /members?card_number=`` and
``?phone=`` look-ups instead, half and half, against the database
``bench/lookup_bench.py`` seeded (run that first), after giving the program
three tiers if it has none, so each look-up reads a tier standing as a
program with tiers does. ``--profile FILE`` writes a cProfile of the measured
look-ups.

    python bench/cpu_per_request.py [--requests 1000] [--mode purchases|lookup] [--profile FILE]
                                    [--database-url postgresql://...] [--only purchase|batch] [--statements]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASES = {"purchases": "loyalty_bench_accrual", "lookup": "loyalty_bench_lookup"}
BATCH = 100
# One name per run: another run of this bench (on another database) must not count here.
APPLICATION = f"loyalty_cpu_bench_{os.getpid()}"
TICKS = os.sysconf("SC_CLK_TCK")


def backend_seconds(dsn: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends this benchmark opened."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APPLICATION,))
        ]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def measure(label: str, call, count: int, admin_dsn: str, *, per: int = 1, profile=None, statements=None):
    """CPU per request (per sale: ``per`` sales a call) of ``count`` requests, after 100 to warm up.

    ``statements`` is a counter from ``count_statements``: the SQL statements per sale are printed too.
    """
    for n in range(max(100 // per, 2)):
        call(-1 - n)  # warm-up: caches, prepared statements, the rule set
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not the wait for PostgreSQL
        profiler.enable()
    calls = max(count // per, 1)
    counted = statements[0] if statements else 0
    py0, pg0 = time.process_time(), backend_seconds(admin_dsn)
    for n in range(calls):
        call(n)
    py, pg = time.process_time() - py0, backend_seconds(admin_dsn) - pg0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    py, pg = py / (calls * per) * 1000, pg / (calls * per) * 1000
    print(f"{label:40s} python {py:6.2f} ms   postgres {pg:5.2f} ms   total {py + pg:6.2f} ms")
    if statements is not None:
        print(f"{'':40s} {(statements[0] - counted) / (calls * per):.2f} SQL statements per sale")
    return py, pg


def count_statements(engine) -> list[int]:
    """A one-element list that counts the SQL statements the engine runs from now on."""
    from sqlalchemy import event

    counter = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args):
        counter[0] += 1

    return counter


BENCH_TIERS = [
    {"code": "silver", "name": "Silver", "rank": 1, "qualifying_points": 0},
    {"code": "gold", "name": "Gold", "rank": 2, "qualifying_points": 1000},
    {"code": "platinum", "name": "Platinum", "rank": 3, "qualifying_points": 5000},
]


def lookups(count: int, admin_dsn: str, profile: str | None) -> None:
    """Signed terminal look-ups by card number and by phone, alternating."""
    from urllib.parse import quote

    from sqlalchemy import select, text
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from loyalty.actors import cli_actor
    from loyalty.merchants.models import Store
    from loyalty.merchants.services import add_terminal
    from loyalty.tiers.services import list_tiers, replace_tiers
    from web.extensions import db
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        if not list_tiers(db.session):
            replace_tiers(db.session, tiers=BENCH_TIERS, actor=cli_actor("bench"))
        store = db.session.scalar(select(Store).order_by(Store.created_at))
        _terminal, key, secret = add_terminal(
            db.session, store_id=store.id, name="CPU bench till", actor=cli_actor("bench")
        )
        db.session.commit()
        people = db.session.execute(text("SELECT card_number, phone FROM members ORDER BY id LIMIT 50000")).all()
    service = Client(app, Response)
    rng = random.Random(3)

    def lookup(n: int) -> None:
        card, phone = rng.choice(people)
        by, value = ("card_number", card) if n % 2 else ("phone", phone)
        path = f"/api/v1/members?{by}={quote(value, safe='')}"
        stamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"{stamp}.GET.{path}.".encode(), hashlib.sha256).hexdigest()
        headers = {
            "Authorization": f"Bearer {key}",
            "X-Loyalty-Timestamp": stamp,
            "X-Loyalty-Signature": f"v1={digest}",
        }
        response = service.get(path, headers=headers)
        assert response.status_code == 200 and len(response.json["items"]) == 1, response.get_data(as_text=True)

    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not the wait for PostgreSQL
        for n in range(100):
            lookup(-1 - n)
        profiler.runcall(lambda: [lookup(n) for n in range(count)])
        profiler.dump_stats(profile)
        print(f"profile of {count} look-ups written to {profile}")
        return
    measure("look-ups (card and phone, signed)", lookup, count, admin_dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests (sales, for a batch) to measure")
    parser.add_argument("--mode", choices=sorted(DATABASES), default="purchases")
    parser.add_argument("--database-url", help="another database than the mode's (seeded as the mode's bench does)")
    parser.add_argument("--only", choices=("purchase", "batch"), help="measure this purchase path alone")
    parser.add_argument("--profile", help="write a cProfile of the measured look-ups (or --only path) to this file")
    parser.add_argument("--statements", action="store_true", help="count SQL statements per sale (with --only)")
    args = parser.parse_args()
    admin_dsn = args.database_url or f"postgresql://postgres@127.0.0.1:5432/{DATABASES[args.mode]}"
    admin_dsn = admin_dsn.replace("postgresql+psycopg://", "postgresql://", 1)
    url = f"{admin_dsn.replace('postgresql://', 'postgresql+psycopg://', 1)}?application_name={APPLICATION}"
    os.environ.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": "redis://127.0.0.1:6379/13",
            "SECRET_KEY": "bench-secret",
            "LOG_LEVEL": "WARNING",
            "REFERENCE_DSN": f"{admin_dsn}?application_name={APPLICATION}",
        }
    )
    if args.mode == "lookup":
        lookups(args.requests, admin_dsn, args.profile)
        return

    from sqlalchemy import select, text
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from bench import floor_app, reference_app
    from bench.accrual_bench import CATALOG
    from loyalty.actors import cli_actor
    from loyalty.merchants.models import Store
    from loyalty.merchants.services import add_terminal
    from web.extensions import db

    app = floor_app.app  # the service's own app, with the floor's extra route
    with app.app_context():
        store = db.session.scalar(select(Store).order_by(Store.created_at))
        _terminal, key, secret = add_terminal(
            db.session, store_id=store.id, name="CPU bench till", actor=cli_actor("bench")
        )
        db.session.commit()
        cards = list(db.session.scalars(text("SELECT card_number FROM members ORDER BY id LIMIT 50000")))
    service, reference = Client(app, Response), Client(reference_app.app, Response)
    rng = random.Random(3)
    run = time.time_ns()

    def sale(external_id: str) -> dict:
        lines = rng.sample(CATALOG, rng.randint(1, 4))
        items = [{"sku": s, "category": c, "quantity": rng.randint(1, 3), "unit_price_minor": p} for s, c, p in lines]
        return {
            "external_id": external_id,
            "member": {"card_number": rng.choice(cards)},
            "currency": "EUR",
            "total_minor": sum(i["quantity"] * i["unit_price_minor"] for i in items),
            "items": items,
        }

    def signed_post(path: str, payload: dict):
        body = json.dumps(payload)
        stamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"{stamp}.POST.{path}.{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "Authorization": f"Bearer {key}",
            "X-Loyalty-Timestamp": stamp,
            "X-Loyalty-Signature": f"v1={digest}",
        }
        return service.post(path, data=body, headers=headers, content_type="application/json")

    def purchase(n: int) -> None:
        response = signed_post("/api/v1/purchases", sale(f"CPU-{run}-{n}"))
        assert response.status_code == 201, response.get_data(as_text=True)

    def batch(n: int) -> None:
        sales = [sale(f"CPU-{run}-{n}-{k}") for k in range(BATCH)]
        response = signed_post("/api/v1/purchases/batch", {"purchases": sales})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert all(r["status"] == 201 for r in response.get_json()["results"]), response.get_data(as_text=True)

    def simple(client: Client, path: str):
        def call(n: int) -> None:
            body = json.dumps({"external_id": f"CPU-{run}-{n}", "total_minor": 1234, "account": abs(n) % 100000 + 1})
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code == 201

        return call

    if args.only:
        with app.app_context():
            counter = count_statements(db.engine) if args.statements else None
        call, per = (purchase, 1) if args.only == "purchase" else (batch, BATCH)
        label = "purchases (full path)" if per == 1 else f"purchases in batches of {BATCH}, per sale"
        measure(label, call, args.requests, admin_dsn, per=per, profile=args.profile, statements=counter)
        return
    full = measure("purchases (full path)", purchase, args.requests, admin_dsn)
    floor = measure("framework floor (Flask app, 2 statements)", simple(service, "/floor"), args.requests, admin_dsn)
    bare = measure("bare minimum (psycopg, 2 statements)", simple(reference, "/"), args.requests, admin_dsn)
    total = {name: sum(pair) for name, pair in (("full", full), ("floor", floor), ("bare", bare))}
    print()
    print(
        f"bare / full path CPU:  {total['bare'] / total['full']:.2f}  (what the full path could reach of the bare rate)"
    )
    print(f"bare / floor CPU:      {total['bare'] / total['floor']:.2f}  (the stack alone)")


if __name__ == "__main__":
    main()
