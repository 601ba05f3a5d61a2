"""A day at the tills under load: the request mix of a coalition, stepped up until latency breaks.

Seeds a program (100 active rules, ``--members`` members with a phone, a card
and points to spend, rewards), serves it with gunicorn (``--workers``) on
PostgreSQL and Redis of this machine, runs one ``flask --app wsgi worker``
beside it, and sends, from an asyncio load generator on loopback (open loop:
requests leave on a fixed schedule, latency counted from the scheduled time, so
queueing is included), the mix a terminal sends:

- 70 % signed purchases (``POST /purchases``, a realistic basket);
- 15 % member look-ups (``GET /members?card_number=`` or ``?phone=``, half each);
- 10 % quotes (``POST /purchases/quote``);
- 5 % redemptions (``POST /redemptions``: points as payment, or a reward, half
  each, with an idempotency key).

The offered rate is stepped up (``--rates``); each step runs ``--seconds`` and
is bounded in requests. The run stops two steps past the knee (p99 above
``--p99-limit`` ms or more than 1 % errors). Prints a table per step (achieved
rate, errors, p50/p95/p99 per kind and overall, the load average) and, with
``--svg``/``--markdown``, writes the chart (plain SVG text) and the table.

The rate limits of the service (``RATE_LIMIT_*``) count failures and
enrolments only; the bench raises them anyway, so that a step past the knee
measures the service, not a limiter. The generator shares the machine's cores
with the service, so the figures are a floor. Nothing is asserted.

    python bench/load_mix.py [--members 100000] [--seconds 15] [--rates 25,50,...] [--svg F] [--markdown F]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accrual_bench import (  # noqa: E402
    BIN,
    CATALOG,
    Connection,
    free_port,
    fresh_database,
    percentile,
    seed,
    serve,
    stop,
)
from machine import StealWatch  # noqa: E402

KINDS = ("purchase", "lookup", "quote", "redeem")
MIX = (70, 15, 10, 5)
SEED_POINTS = 20_000
RAISED_LIMITS = {
    "RATE_LIMIT_API_AUTH_FAILURES": "1000000 per minute",
    "RATE_LIMIT_ENROLMENTS": "1000000 per minute",
    "RATE_LIMIT_CLAIM_FAILURES": "1000000 per minute",
    "RATE_LIMIT_MERCHANT_APPLICATIONS": "1000000 per minute",
}


# -- setting up -----------------------------------------------------------------------------------


# -- the mix --------------------------------------------------------------------------------------


class Mix:
    """Builds the bytes of the next request of the mix, and says which kind it is."""

    def __init__(self, port: int, *, key: str, secret: str, members: list[tuple], rewards: list[str]):
        self.key, self.secret, self.members, self.rewards = key, secret, members, rewards
        self.rng = random.Random(11)
        self.counter = 0
        self.port = port

    def _signed(self, method: str, path: str, body: str = "") -> bytes:
        timestamp = str(int(time.time()))
        message = f"{timestamp}.{method}.{path}.{body}".encode()
        digest = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        data = body.encode()
        content = f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n" if method == "POST" else ""
        return (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{content}Authorization: Bearer {self.key}\r\n"
            f"X-Loyalty-Timestamp: {timestamp}\r\nX-Loyalty-Signature: v1={digest}\r\n\r\n"
        ).encode() + data

    def _basket(self, card: str) -> dict:
        lines = self.rng.sample(CATALOG, self.rng.randint(1, 4))
        items = [
            {"sku": s, "category": c, "quantity": self.rng.randint(1, 3), "unit_price_minor": p} for s, c, p in lines
        ]
        total = sum(i["quantity"] * i["unit_price_minor"] for i in items)
        self.counter += 1
        external_id = f"L-{os.getpid()}-{time.monotonic_ns()}-{self.counter}"
        return {
            "external_id": external_id,
            "member": {"card_number": card},
            "currency": "EUR",
            "total_minor": total,
            "items": items,
        }

    def next(self) -> tuple[str, bytes]:
        kind = self.rng.choices(KINDS, weights=MIX)[0]
        member_id, card, phone = self.rng.choice(self.members)
        if kind == "purchase":
            return kind, self._signed("POST", "/api/v1/purchases", json.dumps(self._basket(card)))
        if kind == "quote":
            return kind, self._signed("POST", "/api/v1/purchases/quote", json.dumps(self._basket(card)))
        if kind == "lookup":
            query = f"card_number={card}" if self.rng.random() < 0.5 else f"phone={quote(phone)}"
            return kind, self._signed("GET", f"/api/v1/members?{query}")
        self.counter += 1
        body: dict = {"member_id": member_id, "idempotency_key": f"R-{os.getpid()}-{time.monotonic_ns()}"}
        if self.rng.random() < 0.5:
            body["points"] = self.rng.choice([100, 200, 500])
        else:
            body["reward_id"] = self.rng.choice(self.rewards)
        return kind, self._signed("POST", "/api/v1/redemptions", json.dumps(body))


async def open_loop(mix: Mix, rate: float, connections: int, seconds: float) -> dict:
    """Requests of the mix scheduled at a fixed rate; latency from the scheduled time, so waiting counts."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    schedule = iter(range(total))
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors: dict[str, int] = dict.fromkeys(KINDS, 0)
    statuses: dict[int, int] = {}
    steal = StealWatch()
    give_up = start + seconds * 3  # bounded in time even when the service falls far behind

    async def client():
        connection = Connection(mix.port)
        for n in schedule:
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() > give_up:
                break
            kind, payload = mix.next()
            try:
                status = await connection.exchange(payload)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                connection.close()
                status = 0
            latencies[kind].append(time.perf_counter() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1
            if status not in (200, 201):
                errors[kind] += 1
        connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    done = sum(len(v) for v in latencies.values())
    return {
        "offered": rate,
        "rate": (done - sum(errors.values())) / elapsed,
        "errors": errors,
        "statuses": statuses,
        "latencies": {kind: sorted(values) for kind, values in latencies.items()},
        "load": os.getloadavg()[0],
        "steal": steal.share(),
    }


def summary(result: dict) -> dict:
    """p50/p95/p99 in ms per kind and overall."""
    every = sorted(v for values in result["latencies"].values() for v in values)
    out = {}
    for kind, values in (*result["latencies"].items(), ("all", every)):
        out[kind] = tuple(percentile(values, q) for q in (0.5, 0.95, 0.99)) if values else (0.0, 0.0, 0.0)
    return out


# -- the report -----------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    head = (
        "| offered /s | achieved /s | errors | all p50 / p95 / p99 ms | purchase p50 / p95 / p99 | "
        "look-up p50 / p95 / p99 | quote p50 / p95 / p99 | redemption p50 / p95 / p99 | load avg |"
    )
    rows = [head, "|" + "---|" * 9]
    for result in results:
        stats = summary(result)
        cells = [f"{result['offered']:.0f}", f"{result['rate']:.1f}", str(sum(result["errors"].values()))]
        for kind in ("all", *KINDS):
            cells.append(" / ".join(f"{v:.0f}" for v in stats[kind]))
        cells.append(f"{result['load']:.2f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def svg_chart(results: list[dict], knee: float | None) -> str:
    """Overall p50/p95/p99 against the offered rate, log latency axis, as plain SVG text."""
    import math

    width, height, left, right, top, bottom = 720, 420, 70, 150, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    rates = [r["offered"] for r in results]
    series = {name: [summary(r)["all"][i] for r in results] for i, name in enumerate(("p50", "p95", "p99"))}
    colours = {"p50": "#1b7837", "p95": "#f1a340", "p99": "#b2182b"}
    low = 10 ** math.floor(math.log10(max(1.0, min(min(v) for v in series.values()))))
    high = 10 ** math.ceil(math.log10(max(max(v) for v in series.values())))
    x_max = max(rates) * 1.05

    def x(rate: float) -> float:
        return left + plot_w * rate / x_max

    def y(ms: float) -> float:
        ms = max(ms, low)
        return top + plot_h * (1 - (math.log10(ms) - math.log10(low)) / (math.log10(high) - math.log10(low)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">Latency by offered rate (request mix, open loop)</text>',
    ]
    decade = low
    while decade <= high:
        for step in (1, 2, 5):
            value = decade * step
            if value > high:
                break
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#ddd"/>'
            )
            parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:g}</text>')
        decade *= 10
    for rate in rates:
        parts.append(f'<line x1="{x(rate):.1f}" x2="{x(rate):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#eee"/>')
        parts.append(f'<text x="{x(rate):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{rate:.0f}</text>')
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
        f'<text x="{left + plot_w / 2}" y="{height - 18}" text-anchor="middle">offered rate (requests/s)</text>'
        f'<text x="18" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {top + plot_h / 2})">latency (ms, log scale)</text>'
    )
    if knee is not None:
        parts.append(
            f'<line x1="{x(knee):.1f}" x2="{x(knee):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#555" '
            f'stroke-dasharray="4 4"/><text x="{x(knee) + 4:.1f}" y="{top + 14}">knee</text>'
        )
    for n, (name, values) in enumerate(series.items()):
        points = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in zip(rates, values, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colours[name]}" stroke-width="2"/>')
        for r, v in zip(rates, values, strict=True):
            parts.append(f'<circle cx="{x(r):.1f}" cy="{y(v):.1f}" r="3" fill="{colours[name]}"/>')
        legend_y = top + 20 + 20 * n
        parts.append(
            f'<line x1="{left + plot_w + 16}" x2="{left + plot_w + 40}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{colours[name]}" stroke-width="2"/><text x="{left + plot_w + 46}" y="{legend_y + 4}">'
            f"{name}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def find_knee(results: list[dict], p99_limit: float) -> dict | None:
    """The last step before p99 passes the limit or errors pass 1 %."""
    knee = None
    for result in results:
        done = sum(len(v) for v in result["latencies"].values())
        broken = summary(result)["all"][2] > p99_limit or sum(result["errors"].values()) > 0.01 * max(done, 1)
        if broken:
            return knee
        knee = result
    return knee


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/loyalty_bench_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rates", default="20,40,60,80,100,120,140,170,200,250")
    parser.add_argument("--p99-limit", type=float, default=500, help="ms; past it a step counts as past the knee")
    parser.add_argument("--svg", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    database_url = fresh_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url, "SECRET_KEY": "bench-secret"}
    env.update(LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), **RAISED_LIMITS)
    os.environ.update(env)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    seeded = seed(args.members, args.rules, points=SEED_POINTS, rewards=5, expiry_months=24)
    print("rate limits raised for the run: " + ", ".join(f"{k}={v}" for k, v in RAISED_LIMITS.items()))

    port = free_port()
    service = serve("wsgi:app", port, args.workers, env)
    worker = subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "worker"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[dict] = []
    try:
        mix = Mix(
            port, key=seeded["key"], secret=seeded["secret"], members=seeded["members"], rewards=seeded["rewards"]
        )
        asyncio.run(open_loop(mix, 20, 16, 3))  # warm the caches and the rule set
        past_knee = 0
        for rate in (float(r) for r in args.rates.split(",")):
            result = asyncio.run(open_loop(mix, rate, args.connections, args.seconds))
            results.append(result)
            stats = summary(result)
            print(
                f"offered {rate:6.0f}/s  achieved {result['rate']:6.1f}/s  errors {sum(result['errors'].values()):5d}"
                f"  all p50/p95/p99 {'/'.join(f'{v:.0f}' for v in stats['all'])} ms"
                f"  load {result['load']:.2f}  {result['steal']}"
                f"  statuses {result['statuses']} errors {result['errors']}",
                flush=True,
            )
            if find_knee(results, args.p99_limit) is not results[-1]:
                past_knee += 1
                if past_knee >= 2:
                    break
            time.sleep(3)  # let queues drain between steps
    finally:
        stop(worker)
        stop(service)

    knee = find_knee(results, args.p99_limit)
    print()
    print(table(results))
    if knee is not None:
        print(
            f"\nknee: {knee['offered']:.0f}/s offered, {knee['rate']:.1f}/s achieved, load average {knee['load']:.2f}"
        )
    if args.svg:
        args.svg.write_text(svg_chart(results, knee["offered"] if knee else None))
    if args.markdown:
        args.markdown.write_text(table(results) + "\n")


if __name__ == "__main__":
    main()
