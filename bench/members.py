"""Enrolment and member look-up, the cashier's first two actions.

Runs the real application in-process (WSGI test client: everything but the
socket) on a fresh database: the embedded default, or PostgreSQL and Redis
when DATABASE_URL and REDIS_URL are set. Prints throughput and latency
percentiles; nothing is asserted.

    python bench/members.py [--members 2000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):6.2f} ms  p95 {pick(0.95):6.2f} ms  p99 {pick(0.99):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()

    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade

    from loyalty.actors import Role, cli_actor
    from loyalty.db import unit_of_work
    from loyalty.keys.services import create_key
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        with unit_of_work() as session:
            _key, secret = create_key(session, role=Role.ADMIN, name="bench", actor=cli_actor())
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(f"database: {database}  redis: {app.config['REDIS_URL'] or 'embedded'}")

    tag = random.randrange(10**6)
    timings, members = [], []
    started = time.perf_counter()
    for n in range(args.members):
        body = {"email": f"bench{tag}-{n}@example.com", "phone": f"+4479{tag % 100:02d}{n:06d}", "name": f"Member {n}"}
        t0 = time.perf_counter()
        response = client.post("/api/v1/members", json=body, headers=headers)
        timings.append(time.perf_counter() - t0)
        if response.status_code != 201:
            raise SystemExit(f"enrolment failed: {response.status_code} {response.json}")
        members.append(response.json)
    elapsed = time.perf_counter() - started
    print(f"enrol    {args.members:6d} members  {args.members / elapsed:8.1f} /s  {percentiles(timings)}")

    for identifier in ("card_number", "email", "phone"):
        timings = []
        started = time.perf_counter()
        for _ in range(args.lookups):
            member = random.choice(members)
            value = member[identifier].replace("+", "%2B")
            t0 = time.perf_counter()
            response = client.get(f"/api/v1/members?{identifier}={value}", headers=headers)
            timings.append(time.perf_counter() - t0)
            if response.json["items"][0]["id"] != member["id"]:
                raise SystemExit(f"look-up by {identifier} found the wrong member")
        elapsed = time.perf_counter() - started
        print(f"look-up  by {identifier:11s} {args.lookups / elapsed:8.1f} /s  {percentiles(timings)}")


if __name__ == "__main__":
    main()
