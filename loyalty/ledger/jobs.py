"""Scheduled ledger work: expiring points and warning of it. Each batch is its own transaction.

A batch locks its members for the few statements it runs, then commits, so a
till waits at most one batch for a member, and a run stopped halfway keeps
what its batches did: the next run carries on from what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.db import unit_of_work, utcnow
from loyalty.ledger import expiry


@dataclass
class ExpiryRun:
    batches: int = 0
    members: int = 0
    lots: int = 0
    points: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"batches": self.batches, "members": self.members, "lots": self.lots, "points": self.points}


@dataclass
class WarningRun:
    batches: int = 0
    members: int = 0
    dates: int = 0
    points: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"batches": self.batches, "members": self.members, "dates": self.dates, "points": self.points}


def _in_batches(
    session: Session,
    next_batch: Callable[..., list[str]],
    apply: Callable[..., Any],
    *,
    now: datetime,
    batch_size: int,
    on_batch: Callable[[int, Any], Any] | None,
) -> Iterator[Any]:
    """Apply ``apply`` to successive batches of member ids in id order, committing each; yield what each did."""
    after, number = "", 0
    while member_ids := next_batch(session, now=now, after=after, size=batch_size):
        batch = apply(session, member_ids, now=now)
        session.commit()
        after, number = member_ids[-1], number + 1
        if on_batch is not None:
            on_batch(number, batch)
        yield batch
    session.commit()


def run_expiry(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = expiry.BATCH_SIZE,
    on_batch: Callable[[int, expiry.ExpiryBatch], Any] | None = None,
) -> ExpiryRun:
    """Expire every lot past its expiry date, ``batch_size`` members at a time, committing each batch."""
    run = ExpiryRun()
    batches = _in_batches(
        session,
        expiry.next_expiry_batch,
        expiry.expire_batch,
        now=now or utcnow(),
        batch_size=batch_size,
        on_batch=on_batch,
    )
    for batch in batches:
        run.batches += 1
        run.members += batch.members
        run.lots += batch.lots
        run.points += batch.points
    return run


def run_warnings(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = expiry.BATCH_SIZE,
    on_batch: Callable[[int, expiry.WarningBatch], Any] | None = None,
) -> WarningRun:
    """Queue the warnings of points expiring in the next days, ``batch_size`` members at a time."""
    run = WarningRun()
    batches = _in_batches(
        session,
        expiry.next_warning_batch,
        expiry.warn_batch,
        now=now or utcnow(),
        batch_size=batch_size,
        on_batch=on_batch,
    )
    for batch in batches:
        run.batches += 1
        run.members += batch.members
        run.dates += batch.dates
        run.points += batch.points
    return run


def expire_points() -> dict[str, int]:
    """The daily expiry run (rq cron)."""
    with unit_of_work() as session:
        return run_expiry(session).as_dict()


def warn_expiring_points() -> dict[str, int]:
    """The daily run of expiry warnings (rq cron)."""
    with unit_of_work() as session:
        return run_warnings(session).as_dict()
