"""Scheduled ledger work: expiring points and warning of it. Each batch is its own transaction.

A batch locks its members for the few statements it runs, then commits, so a
till waits at most one batch for a member, and a run stopped halfway keeps
what its batches did: the next run carries on from what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.db import unit_of_work, utcnow
from loyalty.ledger import expiry


@dataclass
class _Run:
    """The totals of a run: how many batches, and the sum of what each batch did."""

    batches: int = 0

    def add(self, batch: Any) -> None:
        self.batches += 1
        for field in fields(batch):
            setattr(self, field.name, getattr(self, field.name) + getattr(batch, field.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class ExpiryRun(_Run):
    members: int = 0
    lots: int = 0
    points: int = 0


@dataclass
class WarningRun(_Run):
    members: int = 0
    dates: int = 0
    points: int = 0


def _run_batches(
    session: Session,
    next_batch: Callable[..., list[str]],
    apply: Callable[..., Any],
    run: _Run,
    *,
    now: datetime,
    batch_size: int,
    on_batch: Callable[[int, Any], Any] | None,
) -> Any:
    """Apply ``apply`` to successive batches of member ids in id order, committing each; ``run`` adds them up."""
    after = ""
    while member_ids := next_batch(session, now=now, after=after, size=batch_size):
        batch = apply(session, member_ids, now=now)
        session.commit()
        after = member_ids[-1]
        run.add(batch)
        if on_batch is not None:
            on_batch(run.batches, batch)
    session.commit()
    return run


def run_expiry(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = expiry.BATCH_SIZE,
    on_batch: Callable[[int, expiry.ExpiryBatch], Any] | None = None,
) -> ExpiryRun:
    """Expire every lot past its expiry date, ``batch_size`` members at a time, committing each batch."""
    return _run_batches(
        session,
        expiry.next_expiry_batch,
        expiry.expire_batch,
        ExpiryRun(),
        now=now or utcnow(),
        batch_size=batch_size,
        on_batch=on_batch,
    )


def run_warnings(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = expiry.BATCH_SIZE,
    on_batch: Callable[[int, expiry.WarningBatch], Any] | None = None,
) -> WarningRun:
    """Queue the warnings of points expiring in the next days, ``batch_size`` members at a time."""
    return _run_batches(
        session,
        expiry.next_warning_batch,
        expiry.warn_batch,
        WarningRun(),
        now=now or utcnow(),
        batch_size=batch_size,
        on_batch=on_batch,
    )


def expire_points() -> dict[str, int]:
    """The daily expiry run (rq cron)."""
    with unit_of_work() as session:
        return run_expiry(session).as_dict()


def warn_expiring_points() -> dict[str, int]:
    """The daily run of expiry warnings (rq cron)."""
    with unit_of_work() as session:
        return run_warnings(session).as_dict()
