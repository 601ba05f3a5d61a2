"""Vendor webhooks: how fast a delivery is answered, and how fast the jobs record them.

Builds a program, a merchant with a store, 1,000 members and a Shopify
connector on a fresh database (a temporary SQLite file and the embedded Redis,
or ``DATABASE_URL``/``REDIS_URL`` when set, which must point at empty
databases), then:

- sends N signed ``orders/paid`` deliveries of distinct orders through the WSGI
  app in process (no network) and prints the answer time p50/p95/p99: the
  signature check, the deduplicating insert, the outbox row and the commit;
- runs the N jobs one after the other in process and prints deliveries
  recorded per second (mapping, member look-up, scoring, ledger);
- sends the N deliveries again and prints the duplicates' answer time.

Nothing is asserted; the figures depend on the machine.

    python bench/connectors_bench.py [--deliveries 2000]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "shpss_bench_secret_0123456789"  # noqa: S105 (a made-up secret for a throwaway database)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="connectors-bench-"))
    os.environ.setdefault("SECRET_KEY", "bench")
    from flask_migrate import upgrade

    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        from loyalty.actors import cli_actor
        from loyalty.connectors.services import create_connector
        from loyalty.earning.services import activate_rule, create_rule
        from loyalty.members.services import enrol_member
        from loyalty.merchants.models import Merchant
        from loyalty.merchants.services import add_store
        from loyalty.outbox.models import OutboxMessage
        from loyalty.program.services import update_program
        from pos_plugins.common.jobs import record_delivery
        from web.extensions import db

        session = db.session
        actor = cli_actor()
        update_program(session, changes={"currency": "USD", "pending_days": 0}, actor=actor)
        rule = create_rule(
            session,
            rule={"name": "1 per dollar", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
            actor=actor,
        )
        activate_rule(session, rule_id=rule.id, actor=actor)
        merchant = Merchant(name="Bench", contact_email="bench@example.com")
        session.add(merchant)
        session.flush()
        store = add_store(session, merchant_id=merchant.id, name="Bench store", timezone="UTC", actor=actor)
        connector, _ = create_connector(
            session,
            merchant_id=merchant.id,
            vendor="shopify",
            name="Bench",
            signing_secret=SECRET,
            default_store_id=store.id,
            actor=actor,
        )
        for n in range(args.members):
            enrol_member(session, email=f"shopper{n}@example.com", phone=None, name=None, actor=actor)
        session.query(OutboxMessage).delete()  # the welcome messages are not this benchmark's work
        session.commit()
        connector_id = connector.id

    order = json.loads((ROOT / "tests/pos/samples/shopify/orders_paid.json").read_text())
    bodies = []
    for n in range(args.deliveries):
        order |= {
            "id": 10_000_000 + n,
            "email": f"shopper{n % args.members}@example.com",
            "phone": None,
            "customer": None,
        }
        bodies.append(json.dumps(order).encode())
    client = app.test_client()
    path = f"/api/v1/pos-webhooks/shopify/{connector_id}"

    def send(n: int) -> float:
        raw = bodies[n]
        digest = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        headers = {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/paid", "X-Shopify-Event-Id": f"evt-{n}"}
        started = time.perf_counter()
        answer = client.post(path, data=raw, content_type="application/json", headers=headers)
        elapsed = time.perf_counter() - started
        if answer.status_code not in (200, 202):
            raise SystemExit(f"delivery {n} answered {answer.status_code}: {answer.json}")
        return elapsed

    answers = sorted(send(n) for n in range(args.deliveries))
    with app.app_context():
        from loyalty.connectors.models import ConnectorEvent

        ids = [row[0] for row in db.session.query(ConnectorEvent.id).order_by(ConnectorEvent.id)]
        started = time.perf_counter()
        for event_id in ids:
            record_delivery(db.session, event_id)
            db.session.commit()
        recorded = time.perf_counter() - started
    duplicates = sorted(send(n) for n in range(args.deliveries))

    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]}, {args.deliveries} deliveries")
    print(
        f"answer (new delivery): p50 {ms(percentile(answers, 0.5))}, p95 {ms(percentile(answers, 0.95))}, "
        f"p99 {ms(percentile(answers, 0.99))}"
    )
    print(f"jobs: {len(ids) / recorded:.0f} deliveries recorded per second, one process")
    print(
        f"answer (duplicate): p50 {ms(percentile(duplicates, 0.5))}, p95 {ms(percentile(duplicates, 0.95))}, "
        f"p99 {ms(percentile(duplicates, 0.99))}"
    )


if __name__ == "__main__":
    main()
