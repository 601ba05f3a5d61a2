"""Member look-up at the till over HTTP: gunicorn, PostgreSQL and Redis on this machine.

Seeds 100,000 members (each with a card number and an E.164 mobile number),
serves the service with gunicorn and sends signed terminal look-ups,
``GET /api/v1/members?card_number=`` and ``?phone=`` half and half, from the
asyncio load generator of ``bench/accrual_bench.py``. Prints:

- the sustained rate (closed loop);
- latency p50/p95/p99 at a fixed offered rate (open loop, 500/s by default:
  requests leave on schedule and latency counts from the scheduled time, so any
  queueing is included), for card numbers and for phones separately too.

The load generator shares the two cores with gunicorn and PostgreSQL, so the
figures are a floor. Nothing is asserted.

    python bench/lookup_bench.py [--members 100000] [--rate 500] [--seconds 20] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from bench.accrual_bench import (  # noqa: E402
    closed_loop,
    free_port,
    fresh_database,
    line,
    open_loop,
    seed,
    serve,
    stop,
)


class LookupTarget:
    """Builds one signed look-up request: by card number, by phone, or alternating."""

    def __init__(self, port: int, *, key: str, secret: str, cards: list[str], phones: list[str], by: str):
        self.port, self.key, self.secret, self.cards, self.phones, self.by = port, key, secret, cards, phones, by
        self.rng = random.Random(7)
        self.counter = 0

    def request(self) -> bytes:
        self.counter += 1
        by = self.by if self.by != "both" else ("card_number" if self.counter % 2 else "phone")
        value = self.rng.choice(self.cards if by == "card_number" else self.phones)
        path = f"/api/v1/members?{by}={quote(value, safe='')}"
        timestamp = str(int(time.time()))
        digest = hmac.new(self.secret.encode(), f"{timestamp}.GET.{path}.".encode(), hashlib.sha256).hexdigest()
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
            f"X-Loyalty-Timestamp: {timestamp}\r\nX-Loyalty-Signature: v1={digest}\r\n\r\n"
        ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/loyalty_bench_lookup")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    database_url = fresh_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url, "SECRET_KEY": "bench-secret"}
    env.update(LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    os.environ.update(env)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    seeded = seed(args.members, rules=0)
    phones = [phone for _id, _card, phone in seeded["members"]]
    load = os.getloadavg()
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    port = free_port()
    service = serve("wsgi:app", port, args.workers, env)
    try:

        def target(by: str) -> LookupTarget:
            return LookupTarget(
                port, key=seeded["key"], secret=seeded["secret"], cards=seeded["cards"], phones=phones, by=by
            )

        asyncio.run(closed_loop(target("both"), args.connections, 3))  # warm up every worker
        sustained = asyncio.run(closed_loop(target("both"), args.connections, args.seconds))
        print(line("look-ups, closed loop (sustained)", sustained))
        for by in ("both", "card_number", "phone"):
            result = asyncio.run(open_loop(target(by), args.rate, args.connections * 2, args.seconds))
            print(line(f"look-ups by {by} at {args.rate:.0f}/s offered", result))
    finally:
        stop(service)


if __name__ == "__main__":
    main()
