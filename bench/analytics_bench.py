"""The nightly member analytics at scale: stages, RFM, value models, churn and cohorts over millions of purchases.

Makes (or reuses) a PostgreSQL database of its own, generates members and
purchases in SQL (generate_series, no Python loop), then times the analytics
run as the nightly job runs it: the first run (every member moves out of
``prospect``, so every member gets a history row) and the next day's (few
moves). Prints the figures of each step; nothing is asserted.

Members enrol over the last two years; 70 % buy. A buyer's purchases are
spread over their life so far, which for 40 % of them ended early (they
stopped buying), and heavy buyers are rarer than light ones, so the value
models see a realistic mixture.

    python bench/analytics_bench.py [--members 1000000] [--purchases 10000000] [--keep] [--url URL]

``--keep`` reuses the data of a previous run of the same size. The server is
``--url`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
the database ``loyalty_bench_analytics`` on it is dropped and made anew.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "loyalty_bench_analytics"

MEMBERS_SQL = """
INSERT INTO members (id, locale, marketing_opt_in, status, enrolled_at, lifecycle_stage,
                     points_balance, points_debt, purchase_count, updated_at)
SELECT 'mbr_' || lpad(g::text, 26, '0'), 'en', g % 3 = 0, 'active',
       :now - make_interval(secs => floor(random() * 730 * 86400)), 'prospect', 0, 0, 0, :now
FROM generate_series(1, :members) AS g
"""

# Per buyer: how heavily they buy (a skewed weight), their usual basket, and what share of their life so far they
# were active (40 % stopped early).
PROFILE_SQL = """
CREATE UNLOGGED TABLE bench_profile AS
SELECT row_number() OVER (ORDER BY id) AS n, id, enrolled_at,
       power(random(), 3) + 0.02 AS weight,
       400 + floor(5000 * power(random(), 2)) AS basket,
       CASE WHEN random() < 0.4 THEN 0.1 + 0.8 * random() ELSE 1.0 END AS active_share
FROM members WHERE random() < 0.7
"""

# Each buyer's purchases in one set-based statement: about weight x factor of them (rounded at random),
# at random moments of their active life, each around their usual basket.
PURCHASES_SQL = """
INSERT INTO purchases (id, merchant_id, store_id, external_id, request_hash, member_id, occurred_at, currency,
                       total_minor, returned_minor, points_awarded, points_reversed, breakdown, receipt, created_at)
SELECT 'pur_' || p.n || '_' || k, :merchant, :store, 'B' || p.n || '_' || k, '', p.id,
       p.enrolled_at + (:now - p.enrolled_at) * p.active_share * random(),
       'EUR', (p.basket * (0.5 + random()))::bigint, 0, 0, 0, '[]', '', :now
FROM bench_profile AS p, generate_series(1, greatest(1, floor(p.weight * :factor + random())::int)) AS k
WHERE p.n > :after AND p.n <= :upto
"""


def generate(session, *, members: int, purchases: int, now: datetime, merchant: str, store: str) -> None:
    from sqlalchemy import text

    started = time.perf_counter()
    session.execute(text(MEMBERS_SQL), {"now": now, "members": members})
    session.commit()
    print(f"members       {members:>11,}  {time.perf_counter() - started:7.1f} s", flush=True)
    session.execute(text("DROP TABLE IF EXISTS bench_profile"))
    session.execute(text(PROFILE_SQL))
    buyers, weights = session.execute(text("SELECT count(*), sum(weight) FROM bench_profile")).one()
    session.commit()
    factor = purchases / float(weights)
    step = 100_000
    for after in range(0, buyers, step):
        session.execute(
            text(PURCHASES_SQL),
            {"after": after, "upto": after + step, "factor": factor, "merchant": merchant, "store": store, "now": now},
        )
        session.commit()
        made = session.execute(text("SELECT count(*) FROM purchases")).scalar()
        print(f"purchases     {made:>11,}  {time.perf_counter() - started:7.1f} s", flush=True)
    session.execute(text("DROP TABLE bench_profile"))
    session.execute(text("ANALYZE members"))
    session.execute(text("ANALYZE purchases"))
    session.commit()


def prepare_database(server: str, *, keep: bool) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}).scalar()
        if exists and not keep:
            conn.execute(text(f"DROP DATABASE {DATABASE} WITH (FORCE)"))
        if not exists or not keep:
            conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    return url.set(database=DATABASE).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="Reuse the data of a previous run.")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = prepare_database(args.url, keep=args.keep)
    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from loyalty.analytics.jobs import execute_run, record_run
    from loyalty.db import unit_of_work
    from loyalty.members.models import Member
    from loyalty.merchants.models import Merchant, Store
    from wsgi import create_app

    app = create_app()
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        with unit_of_work() as session:
            have = session.scalar(select(func.count()).select_from(Member))
            if have != args.members:
                session.execute(text("TRUNCATE lifecycle_stage_changes, member_analytics, purchases, members CASCADE"))
                merchant = Merchant(name="Bench", contact_email="bench@example.com")
                session.add(merchant)
                session.flush()
                store = Store(merchant_id=merchant.id, name="Bench store", timezone="UTC")
                session.add(store)
                session.commit()
                print(f"generating {args.members:,} members and {args.purchases:,} purchases", flush=True)
                generate(
                    session,
                    members=args.members,
                    purchases=args.purchases,
                    now=now,
                    merchant=merchant.id,
                    store=store.id,
                )
            else:
                session.execute(text("TRUNCATE lifecycle_stage_changes, member_analytics"))
                session.execute(text("UPDATE members SET lifecycle_stage = 'prospect'"))
                session.commit()
                print(f"reusing {have:,} members", flush=True)

        for label, at in (("first run", now), ("next day", now + timedelta(days=1))):
            with unit_of_work() as session:
                run = record_run(session)
                session.commit()
                started = time.perf_counter()
                execute_run(session, run, now=at)
                elapsed = time.perf_counter() - started
                stats = run.stats
            timings = "  ".join(f"{k} {v:.1f}" for k, v in stats["timings"].items() if k != "total")
            print(
                f"{label:9s} {elapsed:7.1f} s  members {run.members:,}  purchases {stats['purchases']:,}  "
                f"buyers {stats['buyers']:,}  stage changes {stats['stage_changes']:,}"
            )
            print(f"          steps (s): {timings}")
            print(f"          stages: {stats['stages']}")
            model = stats["value_model"]
            print(f"          BG/NBD {model['bgnbd']}")
            print(f"          Gamma-Gamma {model['gamma_gamma']}, fitted on {model['fitted_on']:,} buyers")
            if model["reason"]:
                print(f"          value model: {model['reason']}")


if __name__ == "__main__":
    main()
