"""Partner webhooks: what an event costs a purchase, and how fast deliveries go out.

Runs the real services in-process on a fresh database: the embedded default,
or PostgreSQL when DATABASE_URL is set (and Redis when REDIS_URL is). Then:

- purchases are recorded for random members at a merchant without a webhook
  subscription (one indexed read per event) and with one subscribed to
  ``points.earned`` (the event, its delivery and an outbox message are written
  with the purchase), alternately, twice over, and their latencies compared;
- the deliveries are sent by the delivery job, one after the other, to a
  receiver on this machine that answers 200 at once.

Prints latency percentiles and rates; nothing is asserted.

    python bench/webhooks.py [--members 2000] [--purchases 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):6.2f} ms  p95 {pick(0.95):6.2f} ms  p99 {pick(0.99):6.2f} ms"


def receiver() -> tuple[str, ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hooks", server


def time_purchases(session, store_id: str, member_ids: list[str], count: int, tag: str) -> list[float]:
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
            store_id=store_id,
            terminal_id=None,
            external_id=f"{tag}-{n}",
            member_ref={"member_id": random.choice(member_ids)},
            occurred_at=datetime.now(UTC),
            currency="EUR",
            total_minor=random.randrange(100, 20000),
            items=[{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": 450}],
            fingerprint=f"{tag}-{n}",
            ruleset=rules,
            actor=cli_actor(),
        )
        session.commit()
        timings.append(time.perf_counter() - t0)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--purchases", type=int, default=1000)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["WEBHOOK_ALLOW_LOCALHOST"] = "true"
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from loyalty.actors import cli_actor
    from loyalty.db import new_id, unit_of_work
    from loyalty.members.models import Member
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.webhooks import jobs
    from loyalty.webhooks import services as webhooks
    from loyalty.webhooks.models import WebhookDelivery
    from wsgi import create_app

    app = create_app()
    url, server = receiver()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        print(f"database: {database}  members: {args.members}  purchases per round: {args.purchases}")
        stores = {}
        with unit_of_work() as session:
            for label in ("quiet", "subscribed"):
                merchant = Merchant(name=f"Bench {label} {random.randrange(10**6)}", contact_email="b@example.com")
                session.add(merchant)
                session.flush()
                stores[label] = add_store(
                    session, merchant_id=merchant.id, name=label, timezone="UTC", actor=cli_actor()
                ).id
                if label == "subscribed":
                    webhooks.create_subscription(
                        session,
                        merchant_id=merchant.id,
                        url=url,
                        events=["points.earned"],
                        description=None,
                        actor=cli_actor(),
                    )
            member_ids = [new_id("mbr") for _ in range(args.members)]
            session.execute(insert(Member), [{"id": m, "email": f"{m.lower()}@bench.example"} for m in member_ids])

        # Alternately, so that the machine's load weighs on both alike.
        for round_ in (1, 2):
            for label in ("quiet", "subscribed"):
                with unit_of_work() as session:
                    timings = time_purchases(session, stores[label], member_ids, args.purchases, f"{label}{round_}")
                print(f"purchase, merchant {label:10s} round {round_}  {percentiles(timings)}")

        with unit_of_work() as session:
            pending = list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")))
        started = time.perf_counter()
        timings = []
        for delivery_id in pending:
            t0 = time.perf_counter()
            jobs.deliver(delivery_id)
            timings.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        print(
            f"deliveries  {len(pending)} in {elapsed:6.2f} s  {len(pending) / elapsed:7.0f}/s "
            f"(one job at a time)  {percentiles(timings)}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
