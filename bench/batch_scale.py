"""The nightly batches at scale: expiry, the tier review and the month's settlement over millions of entries.

Makes a PostgreSQL database of its own and generates, in set-based SQL
(generate_series, INSERT ... SELECT; the ledger's secondary indexes and
foreign key are dropped during the load and built again after it):

- ``--members`` members, enrolled 10 to 40 months ago, with a balance equal to
  the sum of their entries, ``pending_until`` where points are still pending,
  and a tier that matches their qualifying points, except a few who hold one
  tier above it (the review warns them) or whose grace period has run out
  (the review lowers them);
- ``--entries`` ledger entries, spread between each member's enrolment and now:
  earn lots (``available_at`` 14 days after, ``expires_at`` 24 months after
  that) at ten merchants, with a breakdown split between the operator's base
  rule and the merchant's own, and every fifth entry a redemption at a till
  that spent the member's oldest open lot (``lot_remaining`` 0), so that
  ``sum(lot_remaining) == points_balance == sum(points)`` for every member.
  Lots older than 24.5 months are due to expire; ids are time-ordered (ULID
  time, as the service makes them);
- the purchases of the last two months, and every entry before last month
  counted in an earlier statement of its merchant, so that the settlement run
  closes last month only, as it does on the first of each month.

Then times, as the scheduled jobs run them: the expiry run
(``loyalty.ledger.jobs.expire_points``), a check of the ledger invariants on a
sample of members, the tier review (``loyalty.tiers.jobs.review_tiers``) and
the settlement run (``loyalty.settlement.jobs.close_statements``). Prints the
figures with the load average; nothing is asserted.

    python bench/batch_scale.py [--members 1000000] [--entries 10000000] [--keep] [--url URL]

``--keep`` reuses the data of a previous run of the same size (the jobs will
then find little to do). The database ``loyalty_bench_batch`` on ``--url`` is
dropped and made anew otherwise; ``--drop`` drops it at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "loyalty_bench_batch"
MERCHANTS = 10
TIERS = [("silver", "Silver", 1, 1500), ("gold", "Gold", 2, 4000), ("platinum", "Platinum", 3, 8000)]

# The ULID time part (10 Crockford base32 characters of the milliseconds), so that generated ids sort by time
# as the service's own do.
ULID_TIME_SQL = """
CREATE OR REPLACE FUNCTION bench_ulid_time(ms bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> (5 * (9 - i))) & 31)::int + 1, 1), ''
                  ORDER BY i)
FROM generate_series(0, 9) AS i
$$
"""

# Per member g: n(g) entries (a spread around the average), enrolled a(g) days ago (300 to 1200).
# Entry k of n is at an even step from enrolment to now, with a little jitter; every fifth is a redemption
# of the j-th earn lot's points (j = k / 5: the oldest lot still open), which is then spent.
ENTRIES_SQL = """
INSERT INTO ledger_entries (id, member_id, kind, points, balance_after, created_at, available_at, expires_at,
                            merchant_id, store_id, purchase_id, breakdown, actor_kind, actor_name, lot_remaining)
WITH m AS (
    SELECT g, CAST(:base AS int) + (g * 2654435761 % CAST(:spread AS int))::int AS n, 300 + (g * 48271 % 900) AS age
    FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
), e AS (
    SELECT m.g, k, m.n,
           CAST(:now AS timestamptz) - make_interval(secs => m.age * 86400.0 * (1 - (k - 1 + random()) / m.n)) AS at,
           (m.g + k) % :merchants AS shop,
           CASE WHEN k % 5 = 0 THEN -(20 + (m.g * 7919 + (k / 5) * 104729) % 481)
                ELSE 20 + (m.g * 7919 + k * 104729) % 481 END AS points
    FROM m, generate_series(1, m.n) AS k
), r AS (
    SELECT e.*, 'led_' || bench_ulid_time((extract(epoch FROM at) * 1000)::bigint)
                || lpad(g::text, 10, '0') || lpad(k::text, 6, '0') AS entry_id,
           'mbr_' || lpad(g::text, 26, '0') AS member
    FROM e
)
SELECT entry_id, member, CASE WHEN points < 0 THEN 'redeem' ELSE 'earn' END, points,
       sum(points) OVER (PARTITION BY g ORDER BY k), at,
       CASE WHEN points > 0 THEN at + interval '14 days' END,
       CASE WHEN points > 0 THEN at + interval '14 days' + interval '24 months' END,
       (CAST(:merchant_ids AS text[]))[shop + 1], (CAST(:store_ids AS text[]))[shop + 1],
       CASE WHEN points > 0 THEN 'pur_' || substr(entry_id, 5) END,
       CASE WHEN points < 0 THEN '[]'::jsonb
            WHEN k % 3 = 0 THEN jsonb_build_array(
                jsonb_build_object('rule_id', CAST(:base_rule AS text), 'rule_name', 'Base rate',
                                   'points', points - 10),
                jsonb_build_object('rule_id', (CAST(:rule_ids AS text[]))[shop + 1], 'rule_name', 'Own bonus',
                                   'points', 10))
            ELSE jsonb_build_array(jsonb_build_object('rule_id', CAST(:base_rule AS text), 'rule_name', 'Base rate',
                                                      'points', points)) END,
       'terminal', 'Bench till',
       CASE WHEN points < 0 THEN NULL WHEN k <= n / 5 THEN 0 ELSE points END
FROM r
"""

# Members from their entries: the balance, what is pending, and the tier their qualifying points reach, except
# one in twenty who holds the tier above (the review warns them) and one in twenty who also saw their grace
# period run out (the review lowers them).
MEMBERS_SQL = """
INSERT INTO members (id, email, locale, marketing_opt_in, status, enrolled_at, lifecycle_stage, points_balance,
                     points_debt, pending_until, purchase_count, tier_code, tier_at_risk_since, tier_grace_until,
                     updated_at)
WITH s AS (
    SELECT member_id, sum(points) AS balance, min(created_at) AS first_at,
           max(available_at) FILTER (WHERE available_at > :now) AS pending_until,
           count(*) FILTER (WHERE kind = 'earn') AS purchases,
           coalesce(sum(points) FILTER (WHERE kind = 'earn' AND created_at >= :window), 0) AS qualifying
    FROM ledger_entries GROUP BY member_id
), t AS (
    SELECT s.*, substr(member_id, 5)::bigint AS g,
           coalesce((SELECT max(rank) FROM tiers WHERE qualifying_points <= s.qualifying), 0) AS reached
    FROM s
)
SELECT member_id, 'member' || g || '@bench.example', 'en', false, 'active', first_at - interval '1 day',
       'active', balance, 0, pending_until, purchases,
       (SELECT code FROM tiers WHERE rank = least(3, reached + CASE WHEN g % 20 IN (0, 1) THEN 1 ELSE 0 END)),
       CASE WHEN g % 20 = 1 AND reached < 3 THEN :now - interval '40 days' END,
       CASE WHEN g % 20 = 1 AND reached < 3 THEN :now - interval '1 day' END,
       :now
FROM t
"""

PURCHASES_SQL = """
INSERT INTO purchases (id, merchant_id, store_id, external_id, request_hash, member_id, occurred_at, currency,
                       total_minor, returned_minor, points_awarded, points_reversed, available_at, breakdown,
                       receipt, created_at)
SELECT purchase_id, merchant_id, store_id, purchase_id, '', member_id, created_at, 'EUR', points * 100, 0, points,
       0, available_at, breakdown, '', created_at
FROM ledger_entries WHERE kind = 'earn' AND created_at >= :since
"""

# Everything before last month was counted in an earlier statement of its merchant.
EARLIER_LINES_SQL = """
INSERT INTO statement_lines (entry_id, statement_id, kind, entry_created_at, purchase_id, redemption_id,
                             merchant_points, operator_points, redeemed_points)
SELECT e.id, s.id, e.kind, e.created_at, e.purchase_id, NULL, 0,
       CASE WHEN e.points > 0 THEN e.points ELSE 0 END, CASE WHEN e.points < 0 THEN -e.points ELSE 0 END
FROM ledger_entries AS e JOIN statements AS s ON s.merchant_id = e.merchant_id
WHERE e.created_at < :before
"""


def load_average() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def step(label: str, started: float) -> None:
    print(f"  {label:48s} {time.perf_counter() - started:7.1f} s   load {load_average()}", flush=True)


def drop_secondary(session, table: str) -> tuple[list[str], list[str]]:
    """Drop a table's plain indexes and its foreign keys; return the statements that make each again."""
    from sqlalchemy import text

    indexes, keys = [], []
    for name, definition in session.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ),
        {"t": table},
    ).all():
        session.execute(text(f'DROP INDEX "{name}"'))
        indexes.append(definition)
    for name, definition in session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
        ),
        {"t": table},
    ).all():
        session.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        keys.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return indexes, keys


def generate(session, *, members: int, entries: int, now: datetime, ids: dict) -> None:
    from sqlalchemy import text

    from loyalty.settlement.statements import last_closed_month, month_bounds

    started = time.perf_counter()
    session.execute(text(ULID_TIME_SQL))
    average = entries / members
    base = max(1, round(average / 2))
    spread = max(1, round((average - base) * 2)) + 1  # n is base + [0, spread): the mean is about the average
    ledger_indexes, ledger_keys = drop_secondary(session, "ledger_entries")
    session.commit()
    chunk = 50_000
    for lo in range(1, members + 1, chunk):
        session.execute(
            text(ENTRIES_SQL),
            {
                "lo": lo,
                "hi": min(members, lo + chunk - 1),
                "base": base,
                "spread": spread,
                "now": now,
                "merchants": MERCHANTS,
                "merchant_ids": ids["merchants"],
                "store_ids": ids["stores"],
                "rule_ids": ids["rules"],
                "base_rule": ids["base_rule"],
            },
        )
        session.commit()
        if lo == 1 or (lo - 1) % 200_000 == 0:
            step(f"entries of members {lo:,} to {min(members, lo + chunk - 1):,}", started)
    for statement in ledger_indexes:
        session.execute(text(statement))
        session.commit()
    step("ledger indexes built again", started)
    member_indexes, member_keys = drop_secondary(session, "members")
    session.execute(text(MEMBERS_SQL), {"now": now, "window": now - timedelta(days=365)})
    for statement in member_indexes + member_keys + ledger_keys:
        session.execute(text(statement))
    session.commit()
    step("members (balances and tiers from the entries)", started)
    session.execute(text(PURCHASES_SQL), {"since": now - timedelta(days=62)})
    session.commit()
    step("purchases of the last two months", started)
    last = last_closed_month(now, "UTC")
    last_starts, _ends = month_bounds(last, "UTC")
    earlier = (last - timedelta(days=1)).replace(day=1)
    earlier_starts, _ = month_bounds(earlier, "UTC")
    session.execute(
        text(
            """
            INSERT INTO statements (id, merchant_id, period_start, period_end, starts_at, ends_at, currency,
                merchant_points, operator_points, redeemed_points, issue_price_minor, issue_per_points,
                redeem_price_minor, redeem_per_points, issued_amount_minor, redeemed_amount_minor,
                prepaid_points, prepaid_amount_minor, net_minor, line_count, closed_at)
            SELECT 'stm_bench' || id, id, :period, :period_end, :starts, :ends, 'EUR', 0, 0, 0, 1, 100, 1, 100,
                   0, 0, 0, 0, 0, 0, :ends
            FROM merchants
            """
        ),
        {"period": earlier, "period_end": last, "starts": earlier_starts, "ends": last_starts},
    )
    line_indexes, line_keys = drop_secondary(session, "statement_lines")
    session.execute(text(EARLIER_LINES_SQL), {"before": last_starts})
    for statement in line_indexes + line_keys:
        session.execute(text(statement))
    session.execute(
        text(
            "UPDATE statements SET last_entry_id = "
            "(SELECT max(entry_id) FROM statement_lines WHERE statement_lines.statement_id = statements.id)"
        )
    )
    session.commit()
    step(f"earlier months counted (statements up to {earlier:%Y-%m})", started)
    with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) ledger_entries"))
        conn.execute(text("VACUUM (ANALYZE) members"))
        conn.execute(text("ANALYZE"))
    step("vacuum and analyze", started)


def prepare_database(server: str, *, keep: bool) -> tuple[str, bool]:
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
    return url.set(database=DATABASE).render_as_string(hide_password=False), bool(exists and keep)


def drop_database(server: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    admin.dispose()


def setup_program(session) -> dict:
    """The program (UTC, 14 pending days, points expire 24 months after), merchants, stores, rules, tiers."""
    from loyalty.actors import cli_actor
    from loyalty.earning.services import create_rule
    from loyalty.merchants.models import Merchant
    from loyalty.merchants.services import add_store
    from loyalty.program.services import update_program
    from loyalty.tiers.services import replace_tiers

    actor = cli_actor("bench")
    update_program(session, changes={"pending_days": 14, "expiry_months": 24, "timezone": "UTC"}, actor=actor)
    replace_tiers(
        session,
        tiers=[
            {"code": code, "name": name, "rank": rank, "qualifying_points": points, "benefits": {}}
            for code, name, rank, points in TIERS
        ],
        actor=actor,
    )
    base = create_rule(
        session,
        rule={"name": "Base rate", "priority": 0, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        actor=actor,
    )
    ids: dict = {"merchants": [], "stores": [], "rules": [], "base_rule": base.id}
    for n in range(MERCHANTS):
        merchant = Merchant(name=f"Bench merchant {n}", contact_email=f"m{n}@bench.example")
        session.add(merchant)
        session.flush()
        merchant.created_at = datetime(2020, 1, 1, tzinfo=UTC)
        store = add_store(session, merchant_id=merchant.id, name=f"Store {n}", timezone="UTC", actor=actor)
        rule = create_rule(
            session,
            rule={
                "name": f"Own bonus {n}",
                "priority": 10,
                "merchant_id": merchant.id,
                "effect": {"type": "bonus", "points": 10},
            },
            actor=actor,
        )
        ids["merchants"].append(merchant.id)
        ids["stores"].append(store.id)
        ids["rules"].append(rule.id)
    session.flush()
    return ids


def check_invariants(session, now: datetime, sample: int) -> str:
    """Balances equal the sum of entries and of open lots, on a sample (half of it members the run expired)."""
    from sqlalchemy import text

    members = list(
        session.scalars(
            text(
                "(SELECT member_id FROM ledger_entries WHERE kind = 'expire' ORDER BY random() LIMIT :half) "
                "UNION (SELECT id FROM members ORDER BY random() LIMIT :half)"
            ),
            {"half": sample // 2},
        )
    )
    bad = session.execute(
        text(
            """
            SELECT m.id, m.points_balance, m.points_debt, sum(e.points) AS total,
                   coalesce(sum(e.lot_remaining) FILTER (WHERE e.lot_remaining > 0), 0) AS lots
            FROM members AS m JOIN ledger_entries AS e ON e.member_id = m.id
            WHERE m.id = ANY(:ids)
            GROUP BY m.id, m.points_balance, m.points_debt
            HAVING sum(e.points) <> m.points_balance
                OR coalesce(sum(e.lot_remaining) FILTER (WHERE e.lot_remaining > 0), 0) - m.points_debt
                   <> m.points_balance
            """
        ),
        {"ids": members},
    ).all()
    left = session.scalar(
        text(
            "SELECT count(*) FROM ledger_entries WHERE lot_remaining > 0 AND expires_at <= :now "
            "AND (available_at IS NULL OR available_at <= :now)"
        ),
        {"now": now},
    )
    verdict = "hold" if not bad and not left else f"BROKEN: {len(bad)} members differ, {left} expired lots left"
    return f"ledger invariants on {len(members):,} members: {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="Reuse the data of a previous run.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    parser.add_argument("--sample", type=int, default=2000, help="Members whose ledger is checked after expiry.")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    database_url, kept = prepare_database(args.url, keep=args.keep)
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ.setdefault("LOYALTY_INSTANCE_PATH", tempfile.mkdtemp(prefix="loyalty-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from loyalty.db import unit_of_work
    from loyalty.ledger.jobs import expire_points
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member
    from loyalty.settlement.jobs import close_statements
    from loyalty.tiers.jobs import review_tiers
    from wsgi import create_app

    app = create_app()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"machine: {os.cpu_count()} cores, load average {load_average()} at the start")
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            if not kept:
                print(f"generating {args.members:,} members and about {args.entries:,} ledger entries", flush=True)
                started = time.perf_counter()
                with unit_of_work() as session:
                    ids = setup_program(session)
                    session.commit()
                    generate(session, members=args.members, entries=args.entries, now=now, ids=ids)
                print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
            with unit_of_work() as session:
                made = session.scalar(select(func.count()).select_from(LedgerEntry))
                people = session.scalar(select(func.count()).select_from(Member))
            print(f"{people:,} members, {made:,} ledger entries")

            figures = []
            for label, job in (
                ("expiry run", expire_points),
                ("tier review", review_tiers),
                ("settlement run (close last month)", close_statements),
            ):
                before = load_average()
                began = datetime.now(UTC)
                started = time.perf_counter()
                outcome = job()
                elapsed = time.perf_counter() - started
                figures.append((label, elapsed, outcome, before, load_average()))
                print(f"{label:36s} {elapsed:7.1f} s  {outcome}  load {before} -> {load_average()}", flush=True)
                if job is expire_points:
                    started = time.perf_counter()
                    with unit_of_work() as session:
                        print(f"  {check_invariants(session, now=began, sample=args.sample)}", end="")
                    print(f" ({time.perf_counter() - started:.1f} s)", flush=True)
            print()
            print("| job | time | what it did | load average (1/5/15 min) before -> after |")
            print("|---|---|---|---|")
            for label, elapsed, outcome, before, after in figures:
                print(f"| {label} | {elapsed:.1f} s | {outcome} | {before} -> {after} |")
    finally:
        if args.drop:
            drop_database(args.url)


if __name__ == "__main__":
    main()
