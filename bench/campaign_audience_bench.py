"""Selecting a campaign's audience at scale, on PostgreSQL.

Makes a fresh database, migrates it, and generates with set-based SQL
(``generate_series``): ``--members`` members (default 1,000,000) with lifecycle
stages, tiers, last purchases and consents, analytics rows (RFM segment and
value band) for 90% of them, and ``--purchases`` purchases per member on
average at 20 merchants. Then, for several filters, it times:

- ``count``: the console's live estimate (``count_audience``);
- ``draw``: the launch's selection itself (``loyalty.campaigns.jobs.select_audience``:
  one ``INSERT ... SELECT`` into campaign_members with each member's group by a
  stable hash), in a transaction rolled back afterwards.

Then it times ``--batches`` delivery batches (500 treatment members each) of
two campaigns on the at-risk audience, both messaging by email: a bonus offer
(each member credited through the ledger) and a rule offer (nothing per member
but the message), rolled back afterwards.

Prints the figures; nothing is asserted. Target: any filter under 10 seconds.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/campaign_bench \\
        python bench/campaign_audience_bench.py [--members 1000000] [--purchases 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/campaign_bench"
MERCHANTS = 20

FILTERS = {
    "everyone active": {},
    "stage at_risk or lapsed": {"lifecycle_stages": ["at_risk", "lapsed"]},
    "segment champions, bands 4-5": {"rfm_segments": ["champions"], "value_bands": [4, 5]},
    "30-120 days since purchase, email consent": {
        "days_since_last_purchase": {"min": 30, "max": 120},
        "consent": ["email"],
    },
    "bought at 2 of 20 merchants": {"merchant_ids": ["mer_bench_00", "mer_bench_01"]},
    "combined: at_risk, gold, bands 3-5, bought at 1, sms": {
        "lifecycle_stages": ["at_risk"],
        "tiers": ["gold"],
        "value_bands": [3, 4, 5],
        "merchant_ids": ["mer_bench_03"],
        "consent": ["sms"],
    },
}

GENERATE = [
    (
        "members",
        """
        INSERT INTO members (id, card_number, email, locale, marketing_opt_in, status, enrolled_at,
                             tier_code, lifecycle_stage, points_balance, points_debt, purchase_count,
                             last_purchase_at, updated_at)
        SELECT 'mbr_' || lpad(i::text, 26, '0'), lpad(i::text, 16, '0'), 'm' || i || '@bench.example', 'en',
               (i % 3 <> 0), CASE WHEN i % 97 = 0 THEN 'closed' ELSE 'active' END,
               now() - (i % 1500) * interval '1 day',
               (ARRAY['blue', 'silver', 'gold', NULL])[1 + (i / 8) % 4],
               (ARRAY['prospect', 'first_purchase', 'growth', 'maturity', 'at_risk', 'lapsed', 'lost',
                      'won_back'])[1 + (i * 7) % 8],
               0, 0, :purchases,
               CASE WHEN i % 10 = 0 THEN NULL ELSE now() - ((i * 13) % 400) * interval '1 day' END,
               now()
        FROM generate_series(1, CAST(:members AS bigint)) AS i
        """,
    ),
    (
        "member_analytics",
        """
        INSERT INTO member_analytics (member_id, computed_at, purchases, rfm_segment, value_band,
                                      r_score, f_score, m_score)
        SELECT 'mbr_' || lpad(i::text, 26, '0'), now(), :purchases,
               (ARRAY['champions', 'loyal', 'potential', 'new', 'promising', 'need_attention', 'about_to_sleep',
                      'at_risk', 'cannot_lose', 'hibernating', 'lost'])[1 + (i * 11) % 11],
               1 + (i * 3) % 5, 1 + i % 5, 1 + (i / 5) % 5, 1 + (i / 25) % 5
        FROM generate_series(1, CAST(:members AS bigint)) AS i
        WHERE i % 10 <> 0
        """,
    ),
    (
        "marketing_consents",
        """
        INSERT INTO marketing_consents (member_id, channel, granted, changed_at, source)
        SELECT 'mbr_' || lpad(i::text, 26, '0'), c.channel, (i % 2 = 0), now(), 'portal'
        FROM generate_series(1, CAST(:members AS bigint)) AS i CROSS JOIN (VALUES ('email'), ('sms')) AS c(channel)
        WHERE i % 5 = 0
        """,
    ),
    (
        "purchases",
        """
        INSERT INTO purchases (id, merchant_id, store_id, external_id, request_hash, member_id, occurred_at,
                               currency, total_minor, returned_minor, points_awarded, points_reversed,
                               breakdown, receipt, created_at)
        SELECT 'pur_' || lpad(n::text, 26, '0'), 'mer_bench_' || lpad(((n / 7) % 20)::text, 2, '0'),
               'sto_bench_' || lpad(((n / 7) % 20)::text, 2, '0'), 'B-' || n, 'x',
               'mbr_' || lpad(m::text, 26, '0'), now() - ((n * 7) % 500) * interval '1 day',
               'EUR', 500 + (n * 37) % 9500, 0, 0, 0, '[]', '', now()
        FROM generate_series(1, CAST(:members AS bigint) * :purchases) AS n,
             LATERAL (SELECT 1 + (n * 7919::bigint) % CAST(:members AS bigint) AS m) AS pick
        """,
    ),
]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=3, help="purchases per member on average")
    parser.add_argument("--keep", action="store_true", help="reuse the database a previous run generated")
    parser.add_argument("--batches", type=int, default=5, help="delivery batches to time per offer")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        sys.exit("DATABASE_URL must be a PostgreSQL URL")
    os.environ["DATABASE_URL"] = url if args.keep else fresh_database(url)
    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("SECRET_KEY", "bench")
    from flask_migrate import upgrade
    from sqlalchemy import text

    from loyalty.actors import cli_actor
    from loyalty.campaigns.audience import count_audience
    from loyalty.campaigns.jobs import select_audience
    from loyalty.campaigns.models import Campaign
    from loyalty.campaigns.services import RUNNING
    from loyalty.db import unit_of_work
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        if not args.keep:
            with unit_of_work() as session:
                for n in range(MERCHANTS):
                    session.execute(
                        text(
                            "INSERT INTO merchants (id, name, contact_email, status, require_signed_requests, "
                            "created_at, updated_at) "
                            "VALUES (:id, :name, 'b@example.com', 'active', false, now(), now())"
                        ),
                        {"id": f"mer_bench_{n:02d}", "name": f"Bench {n}"},
                    )
                    session.execute(
                        text(
                            "INSERT INTO stores (id, merchant_id, name, timezone, status, created_at) "
                            "VALUES (:id, :merchant, 'Store', 'UTC', 'active', now())"
                        ),
                        {"id": f"sto_bench_{n:02d}", "merchant": f"mer_bench_{n:02d}"},
                    )
            for table, statement in GENERATE:
                started = time.perf_counter()
                with unit_of_work() as session:
                    session.execute(text(statement), {"members": args.members, "purchases": args.purchases})
                print(f"generated {table:<20} {time.perf_counter() - started:7.1f} s", flush=True)
            started = time.perf_counter()
            with unit_of_work() as session:
                session.execute(text("ANALYZE"))
            print(f"analyzed             {time.perf_counter() - started:7.1f} s")
        with unit_of_work() as session:
            counts = {
                table: session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
                for table in ("members", "member_analytics", "purchases")
            }
        print(
            f"members {counts['members']:,}  analytics {counts['member_analytics']:,}  "
            f"purchases {counts['purchases']:,}"
        )
        # Each draw below is rolled back: its dead rows would slow the next run's unless vacuumed.
        with app.extensions["sqlalchemy"].engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE campaign_members"))
        print(f"{'filter':<55} {'members':>10} {'count':>9} {'draw':>9}")
        worst = 0.0
        for label, audience in FILTERS.items():
            session = app.extensions["sqlalchemy"].session
            started = time.perf_counter()
            size = count_audience(session, audience)
            counted = time.perf_counter() - started
            session.rollback()
            campaign = Campaign(
                name=label,
                status=RUNNING,
                audience=audience,
                offer={"type": "bonus", "points": 1},
                control_share_pct=10,
                created_by=cli_actor().name,
                progress={"phase": "selecting"},
            )
            session.add(campaign)
            session.flush()
            started = time.perf_counter()
            select_audience(session, campaign_id=campaign.id)
            drawn = time.perf_counter() - started
            assert campaign.audience_size == size, (campaign.audience_size, size)
            session.rollback()
            worst = max(worst, counted, drawn)
            print(f"{label:<55} {size:>10,} {counted:>8.2f}s {drawn:>8.2f}s", flush=True)
        print(f"slowest: {worst:.2f} s (target: under 10 s)")
        time_delivery(app, args.batches)


def time_delivery(app, batches: int) -> None:
    from loyalty.campaigns.jobs import BATCH_SIZE, deliver_batch, select_audience
    from loyalty.campaigns.services import create_campaign, launch_campaign
    from tests.factories_campaigns import MARKETER

    session = app.extensions["sqlalchemy"].session
    offers = {
        "bonus 100 points + email": ({"type": "bonus", "points": 100}, None),
        "rule offer + email": ({"type": "rule", "rule": {"effect": {"type": "bonus", "points": 50}}}, 10**9),
    }
    for label, (offer, budget) in offers.items():
        campaign = create_campaign(
            session,
            data={
                "name": label,
                "audience": {"lifecycle_stages": ["at_risk"]},
                "offer": offer,
                "budget_points": budget,
                "channels": ["email"],
                "message": {"en": {"subject": "Hello", "body": "We miss you."}},
            },
            actor=MARKETER,
        )
        launch_campaign(session, campaign_id=campaign.id, actor=MARKETER)
        select_audience(session, campaign_id=campaign.id)
        started = time.perf_counter()
        for _ in range(batches):
            deliver_batch(session, campaign_id=campaign.id)
            session.flush()
        elapsed = time.perf_counter() - started
        done = campaign.progress["done"]
        print(
            f"delivery, {label:<26} {done:,} members in {batches} batches of {BATCH_SIZE}: "
            f"{elapsed:.2f} s, {done / elapsed:,.0f} members/s, {campaign.progress['contacts']:,} messages"
        )
        session.rollback()


if __name__ == "__main__":
    main()
