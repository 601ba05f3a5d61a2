"""Figures for monitoring, read from the database and Redis when they are asked for.

They are computed from the stored data, not counted in a process's memory: any
number of web and worker processes, on any number of machines, record
purchases and points, and a restart loses nothing. Every figure here only ever
grows (the ledger is append-only) except the depths, which are gauges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis
from rq import Queue
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.outbox.models import OutboxMessage
from loyalty.purchases.models import Purchase, PurchaseReturn
from loyalty.queue import QUEUES

# Ledger kinds whose points are earned (issued) and spent (redeemed).
ISSUED_KINDS = ("earn", "claim")
REDEEMED_KINDS = ("redeem",)


@dataclass
class BusinessTotals:
    """Totals since the start of the program."""

    members: int = 0
    purchases: int = 0
    purchase_returns: int = 0
    # (kind, "credit" | "debit") -> points, always >= 0: the points added and taken by entries of that kind.
    ledger_points: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def points_issued(self) -> int:
        return sum(self.ledger_points.get((kind, "credit"), 0) for kind in ISSUED_KINDS)

    @property
    def points_redeemed(self) -> int:
        return sum(self.ledger_points.get((kind, "debit"), 0) for kind in REDEEMED_KINDS)


def business_totals(session: Session) -> BusinessTotals:
    """Members, purchases, returns, and points by ledger kind, over the whole history."""
    totals = BusinessTotals(
        members=session.scalar(select(func.count()).select_from(Member)) or 0,
        purchases=session.scalar(select(func.count()).select_from(Purchase)) or 0,
        purchase_returns=session.scalar(select(func.count()).select_from(PurchaseReturn)) or 0,
    )
    credit = func.coalesce(func.sum(case((LedgerEntry.points > 0, LedgerEntry.points), else_=0)), 0)
    debit = func.coalesce(func.sum(case((LedgerEntry.points < 0, -LedgerEntry.points), else_=0)), 0)
    for kind, added, taken in session.execute(select(LedgerEntry.kind, credit, debit).group_by(LedgerEntry.kind)).all():
        totals.ledger_points[(kind, "credit")] = int(added)
        totals.ledger_points[(kind, "debit")] = int(taken)
    return totals


@dataclass(frozen=True)
class OutboxDepth:
    pending: int
    oldest_created_at: datetime | None

    def oldest_age_seconds(self, now: datetime | None = None) -> float:
        if self.oldest_created_at is None:
            return 0.0
        return max(0.0, ((now or utcnow()) - self.oldest_created_at).total_seconds())


def outbox_depth(session: Session) -> OutboxDepth:
    """Outbox messages not yet run, and when the oldest of them was written."""
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.done_at.is_(None))
    ).one()
    return OutboxDepth(pending=int(pending or 0), oldest_created_at=oldest)


def queue_depths(connection: Redis) -> dict[str, dict[str, int]]:
    """For each RQ queue, its jobs by state: queued, started, scheduled, deferred, failed."""
    depths: dict[str, dict[str, int]] = {}
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        depths[name] = {
            "queued": queue.count,
            "started": StartedJobRegistry(queue=queue).count,
            "scheduled": ScheduledJobRegistry(queue=queue).count,
            "deferred": DeferredJobRegistry(queue=queue).count,
            "failed": FailedJobRegistry(queue=queue).count,
        }
    return depths
