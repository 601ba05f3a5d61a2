"""A till flushing a long queue: how many queued sales per second it delivers, in order, once each.

Fills a till's queue with ``--sales`` sales (10,000 by default) for ``--members``
members in turn (20 by default: each ends with hundreds of pending lots, which
every later sale of theirs sums; a store's real day spreads them over many
more), as a till offline for a long while would, then times ``flush()``:

1. against the real service (gunicorn on PostgreSQL and Redis, a fresh
   database dropped afterwards, a base rule), which is what an integrator sees:
   in batches of 100 (``POST /purchases/batch``, what the till does), and, for
   comparison, ``--single-sales`` sales (1,000 by default) sent one by one
   (``batch_size=1``, what a till did before batches, and what it does with a
   service older than them);
2. against a bare stub on this machine that answers at once, which is the
   client's own ceiling (signing, HTTP, JSON, and the queue's fsynced SQLite
   commits), in batches and one by one.

Delivery is strictly in order per till. One by one, a till's rate is bounded
by one round trip plus one purchase on the service; in batches, by the
service's purchase path alone. The load average is printed with the figures
(the machine may be shared); they are printed, never asserted.

    python bench/till_flush_bench.py [--sales 10000] [--single-sales 1000] [--members 20]
                                     [--database-url postgresql://...] [--workers 2] [--stub-only]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
QUIET = ("--log-level", "warning")

from bench.accrual_bench import free_port, fresh_database  # noqa: E402
from bench.machine import StealWatch  # noqa: E402
from pos_plugins.client import Item, TillClient  # noqa: E402


def call(base: str, method: str, path: str, key: str, body: dict | None = None) -> dict:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - our own service
        base + path, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own service
        return json.loads(response.read())


def fill(client: TillClient, sales: int, members: list[str], prefix: str) -> None:
    for n in range(sales):
        items = [Item("LATTE", 1 + n % 3, 450, "coffee"), Item("CAKE", 1, 300 + n % 50, "bakery")]
        client.purchase(
            f"{prefix}-{n:06d}",
            member_id=members[n % len(members)],
            total_minor=sum(i.quantity * i.unit_price_minor for i in items),
            currency="EUR",
            items=items,
            deliver=False,
        )


STEAL = StealWatch()  # restarted by each timed flush


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f})"


def timed_flush(client: TillClient, sales: int) -> tuple[float, int]:
    STEAL.start()
    started = time.perf_counter()
    delivered = 0
    while True:
        result = client.flush(force=True)
        delivered += result.delivered
        if result.pending == 0 or (result.error and delivered == 0):
            break
    return time.perf_counter() - started, delivered


def stub_server() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def receipt(sale: dict) -> dict:
                return {"id": "pur_1", "external_id": sale["external_id"], "points_awarded": 1, "breakdown": []}

            if self.path.endswith("/purchases/batch"):
                results = [
                    {"index": n, "external_id": sale["external_id"], "status": 201, "receipt": receipt(sale)}
                    for n, sale in enumerate(body["purchases"])
                ]
                answer = json.dumps({"results": results}).encode()
                self.send_response(200)
            else:
                answer = json.dumps(receipt(body)).encode()
                self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def report(label: str, delivered: int, seconds: float, detail: str) -> None:
    rate = delivered / seconds
    print(
        f"{label:26s} {delivered:6d} sales in {seconds:6.1f} s = {rate:6.0f} sales/s"
        f"  ({detail}; {load()}; {STEAL.share()})"
    )


def bench_stub(sales: int, folder: Path) -> None:
    server, base = stub_server()
    for label, batch_size in (("stub, batches of 100", 100), ("stub, one by one", 1)):
        client = TillClient(base, "key", "secret", str(folder / f"stub-{batch_size}.db"), 10, batch_size=batch_size)
        fill(client, sales, ["mbr_1"], f"S{batch_size}")
        seconds, delivered = timed_flush(client, sales)
        client.close()
        report(label, delivered, seconds, "the client's ceiling")
    server.shutdown()


def bench_service(args, folder: Path) -> None:
    database_url = fresh_database(args.database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": "bench-secret",
        "LOYALTY_INSTANCE_PATH": str(folder),
        "PYTHONPATH": str(ROOT),
        # As bench/accrual_bench.py: no line per request on the terminal.
        "LOG_LEVEL": "WARNING",
        # --members enrols through the API, and each run applies for a merchant: more than the default
        # limits allow in an hour when the bench runs again and again.
        "RATE_LIMIT_ENROLMENTS": "1000000 per minute",
        "RATE_LIMIT_MERCHANT_APPLICATIONS": "1000000 per minute",
    }

    def flask(*cli: str) -> str:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *cli], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout

    flask("db", "upgrade")
    admin = flask("keys", "create", "--role", "admin", "--name", "bench").strip().splitlines()[-1]
    port = free_port()
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", str(args.workers), *QUIET],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call(base, "GET", "/healthz", admin)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        rule = call(
            base,
            "POST",
            "/api/v1/rules",
            admin,
            {"name": "Base", "priority": 10, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        )
        call(base, "POST", f"/api/v1/rules/{rule['id']}/activate", admin)
        application = call(
            base, "POST", "/api/v1/merchants/applications", admin, {"name": "Bench", "contact_email": "b@example.com"}
        )
        approval = call(base, "POST", f"/api/v1/merchants/applications/{application['id']}/approve", admin)
        store = call(
            base,
            "POST",
            f"/api/v1/merchants/{approval['merchant_id']}/stores",
            approval["api_key"],
            {"name": "S", "timezone": "UTC"},
        )
        terminal = call(base, "POST", f"/api/v1/stores/{store['id']}/terminals", approval["api_key"], {"name": "T"})
        kind = f"gunicorn -w {args.workers}, {database_url.split('://')[0]}"
        members: list[str] = []
        for label, batch_size, sales in (
            ("service, batches of 100", 100, args.sales),
            ("service, one by one", 1, args.single_sales),
        ):
            if sales <= 0:
                continue
            queue = str(folder / f"till-{batch_size}.db")
            client = TillClient(base, terminal["api_key"], terminal["signing_secret"], queue, 30, batch_size=batch_size)
            members = members or [client.enrol(email=f"bench{n}@example.com").id for n in range(args.members)]
            fill(client, sales, members, f"B{batch_size}")
            seconds, delivered = timed_flush(client, sales)
            client.close()
            report(label, delivered, seconds, kind)
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(20)
        drop_database(database_url)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=10_000)
    parser.add_argument("--single-sales", type=int, default=1_000, help="sales sent one by one (0: none)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/loyalty_bench_till")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--members",
        type=int,
        default=20,
        help="members the sales go to, in turn (20: each holds hundreds of pending lots by the end, the worst case)",
    )
    parser.add_argument("--stub-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="till-bench-") as folder:
        bench_stub(args.sales, Path(folder))
        if not args.stub_only:
            bench_service(args, Path(folder))


if __name__ == "__main__":
    main()
