"""What the fault tests share: a program with a rule, a till, a steady load of sales, and the
ledger invariants of API.md checked over every member straight from the database.

The fault tests run the service as an operator does (``tests/service.py``: gunicorn and
workers as processes of their own) on PostgreSQL: they are about the multi-machine
deployment, and SQLite with the embedded Redis is the single-machine default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import and_, create_engine, func, select
from sqlalchemy.orm import Session

from tests.databases import server_url
from tests.ledger_checks import assert_ledger_consistent
from tests.service import add_terminal, call, onboard_till

requires_postgres = pytest.mark.skipif(
    server_url() is None,
    reason="fault tests run on PostgreSQL and Redis (several processes and machines); "
    "SQLite with the embedded Redis is the single-machine default",
)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.5):
    """Poll ``predicate`` until it returns something true (returned), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def attempt(base: str, method: str, path: str, **kwargs) -> tuple[int, object]:
    """``call``, with a connection refused, reset or timed out answered as status 0."""
    try:
        return call(base, method, path, **kwargs)
    except OSError as exc:
        return 0, repr(exc)


def set_up_program(base: str, admin: str, *, members: int) -> dict:
    """Points available at once, one point per 1.00, a merchant with a store and a terminal, and members."""
    status, body = call(base, "PATCH", "/api/v1/program", key=admin, body={"pending_days": 0})
    assert status == 200, body
    status, rule = call(
        base,
        "POST",
        "/api/v1/rules",
        key=admin,
        body={"name": "Base", "priority": 10, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
    )
    assert status == 201, rule
    status, body = call(base, "POST", f"/api/v1/rules/{rule['id']}/activate", key=admin)
    assert status == 200, body
    merchant = onboard_till(base, admin)
    terminal = add_terminal(base, merchant["merchant_key"], merchant["store_id"])
    member_ids = []
    for n in range(members):
        status, member = call(base, "POST", "/api/v1/members", key=admin, body={"email": f"m{n}@example.com"})
        assert status == 201, member
        member_ids.append(member["id"])
    return {**merchant, "terminal": terminal, "member_ids": member_ids}


def sale(member_id: str, n: int) -> dict:
    """A purchase body: its points are ``total_minor // 100``."""
    return {
        "member": {"member_id": member_id},
        "currency": "EUR",
        "total_minor": 1000 + 100 * (n % 7),
        "items": [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": 1000 + 100 * (n % 7)}],
    }


def purchase(base: str, terminal: dict, external_id: str, body: dict) -> tuple[int, object]:
    return attempt(
        base,
        "POST",
        "/api/v1/purchases",
        key=terminal["api_key"],
        signing_secret=terminal["signing_secret"],
        body={"external_id": external_id, **body},
    )


class SalesLoad:
    """Sales sent one after another from ``threads`` tills until stopped, each answer kept by external id.

    A sale that got no 200/201 (the service or a dependency down) is what a till keeps in its
    queue: ``redeliver`` sends those again, as the till would, once the service is back.
    """

    def __init__(
        self,
        bases: list[str],
        terminal: dict,
        member_ids: list[str],
        *,
        prefix: str,
        threads: int = 3,
        pause: float = 0,
    ):
        self.bases, self.terminal, self.member_ids, self.prefix = bases, terminal, member_ids, prefix
        self.pause = pause  # between a till's sales: the background work each causes must be drained after
        self.answers: dict[str, list[int]] = {}
        self.bodies: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.counter = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> SalesLoad:
        self.running.set()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.running.clear()
        for thread in self.threads:
            thread.join(30)

    def _next(self) -> tuple[str, dict, str]:
        with self.lock:
            n = self.counter
            self.counter += 1
        external_id = f"{self.prefix}-{n:05d}"
        body = sale(self.member_ids[n % len(self.member_ids)], n)
        with self.lock:
            self.bodies[external_id] = body
            self.answers[external_id] = []
        return external_id, body, self.bases[n % len(self.bases)]

    def _run(self) -> None:
        while self.running.is_set():
            external_id, body, base = self._next()
            status, _ = purchase(base, self.terminal, external_id, body)
            with self.lock:
                self.answers[external_id].append(status)
            if status not in (200, 201):
                time.sleep(0.2)  # a till backs off a little when the service fails
            time.sleep(self.pause)

    def statuses(self) -> list[int]:
        with self.lock:
            return [status for answers in self.answers.values() for status in answers]

    def count(self, *statuses: int) -> int:
        return sum(1 for status in self.statuses() if status in statuses)

    def undelivered(self) -> list[str]:
        with self.lock:
            return [eid for eid, answers in self.answers.items() if not set(answers) & {200, 201}]

    def redeliver(self, timeout: float = 60) -> None:
        """Send each sale not yet answered 200/201 again until it is (the service is back)."""
        for external_id in self.undelivered():

            def delivered(external_id=external_id) -> bool:
                status, _ = purchase(self.bases[0], self.terminal, external_id, self.bodies[external_id])
                self.answers[external_id].append(status)
                return status in (200, 201)

            wait_for(delivered, timeout, f"sale {external_id} accepted again")


def check_every_member(database_url: str) -> int:
    """API.md's invariants over every member, and every purchase and redemption with its ledger entry.

    Returns how many members were checked.
    """
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member
    from loyalty.purchases.models import Purchase
    from loyalty.rewards.models import Redemption

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            member_ids = session.scalars(select(Member.id)).all()
            for member_id in member_ids:
                assert_ledger_consistent(session, member_id)
            # No purchase without its earn entry, and none with two.
            earned = session.execute(
                select(Purchase.id, Purchase.points_awarded, func.count(LedgerEntry.id), func.sum(LedgerEntry.points))
                .outerjoin(LedgerEntry, and_(LedgerEntry.purchase_id == Purchase.id, LedgerEntry.kind == "earn"))
                .where(Purchase.member_id.is_not(None))
                .group_by(Purchase.id, Purchase.points_awarded)
            ).all()
            for purchase_id, awarded, entries, points in earned:
                assert (entries, points or 0) == ((1, awarded) if awarded else (0, 0)), purchase_id
            # No redemption without the entry that took its points, and none with two.
            redeemed = session.execute(
                select(Redemption.id, Redemption.points, func.count(LedgerEntry.id), func.sum(LedgerEntry.points))
                .outerjoin(LedgerEntry, and_(LedgerEntry.redemption_id == Redemption.id, LedgerEntry.kind == "redeem"))
                .group_by(Redemption.id, Redemption.points)
            ).all()
            for redemption_id, points, entries, taken in redeemed:
                assert (entries, taken) == (1, -points), redemption_id
        return len(member_ids)
    finally:
        engine.dispose()
