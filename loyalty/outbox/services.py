"""The transactional outbox.

A service calls ``add_task`` inside its transaction. When that transaction
commits, the new messages are handed to RQ (``relay``); if Redis is down they
stay in the table and ``relay_pending`` hands them over later. A job never
runs before the data it needs is committed, and no work is lost while Redis
is away. Running a message marks it done in the same transaction as the
task's own changes, so a retried job never applies them twice.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from rq.job import Job, JobStatus
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.outbox.models import OutboxMessage
from loyalty.queue import get_queue, get_redis

log = logging.getLogger(__name__)

RUNNER = "loyalty.outbox.jobs.run_message"
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
_PENDING_KEY = "outbox_pending"
_HELD_KEY = "outbox_held"


def task(queue: str = "default", *, timeout: int | None = None) -> Callable:
    """Mark a function ``fn(session, **args)`` as runnable from the outbox.

    ``timeout`` is how many seconds its job may run (RQ's default when None).
    """

    def mark(fn: Callable) -> Callable:
        fn.outbox_queue = queue  # type: ignore[attr-defined]
        fn.outbox_timeout = timeout  # type: ignore[attr-defined]
        return fn

    return mark


def task_path(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def resolve_task(path: str) -> Callable:
    module_name, _, name = path.rpartition(".")
    fn = getattr(importlib.import_module(module_name), name, None)
    if fn is None or not hasattr(fn, "outbox_queue"):
        raise LookupError(f"{path} is not an outbox task")
    return fn


def add_task(session: Session, fn: Callable, **args: Any) -> OutboxMessage:
    """Record that ``fn(session, **args)`` must run once this transaction commits."""
    return add_tasks(session, fn, [args])[0]


def add_tasks(session: Session, fn: Callable, args_list: Iterable[dict[str, Any]]) -> list[OutboxMessage]:
    """Record many runs of ``fn`` at once (one insert for them all); each runs once this transaction commits."""
    if not hasattr(fn, "outbox_queue"):
        raise TypeError(f"{task_path(fn)} is not an outbox task")
    messages = [OutboxMessage(queue=fn.outbox_queue, task=task_path(fn), args=dict(args)) for args in args_list]
    if messages:
        session.add_all(messages)
        session.flush()
        timeout = _timeout(fn)
        session.info.setdefault(_PENDING_KEY, []).extend((message.id, message.queue, timeout) for message in messages)
    return messages


def _timeout(fn: Callable) -> int | None:
    return getattr(fn, "outbox_timeout", None)


def _task_timeout(path: str) -> int | None:
    try:
        return _timeout(resolve_task(path))
    except (LookupError, ImportError):
        return None  # run_message reports an unknown task


def enqueue_message(message_id: str, queue: str, timeout: int | None = None) -> None:
    """Hand one message to RQ; the job id is the message id, so it is enqueued once."""
    get_queue(queue).enqueue(
        RUNNER,
        message_id,
        job_id=f"outbox-{message_id}",
        retry=RETRY,
        failure_ttl=90 * 24 * 3600,
        job_timeout=timeout,
    )


def relay(messages: Iterable[tuple[str, str, int | None]]) -> int:
    """Enqueue freshly committed messages (id, queue, timeout); on a Redis failure leave them for the sweep."""
    sent = 0
    for message_id, queue, timeout in messages:
        try:
            enqueue_message(message_id, queue, timeout)
            sent += 1
        except RedisError as exc:
            log.warning("outbox: Redis unavailable, %s left for the sweep: %s", message_id, exc)
            break
    return sent


# A message whose job has said "queued" this long, but that no queue holds, was taken by a worker that lost
# Redis before it could mark the job started (taking it and marking it take milliseconds).
LOST_AFTER = timedelta(minutes=2)


def relay_pending(session: Session, *, older_than: timedelta = timedelta(seconds=30), limit: int = 1000) -> int:
    """Enqueue messages not done whose job is missing from Redis, or queued in name only (lost while it was down).

    Sending a message again is safe: ``run_message`` runs it once.
    """
    now = utcnow()
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.queue, OutboxMessage.task, OutboxMessage.created_at)
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.created_at <= now - older_than)
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    connection = get_redis()
    jobs = Job.fetch_many([f"outbox-{row.id}" for row in rows], connection=connection)
    lost = []
    in_name_only: dict[str, list] = {}
    for row, job in zip(rows, jobs, strict=True):
        if job is None:
            lost.append(row)
        elif job.get_status(refresh=False) == JobStatus.QUEUED and row.created_at <= now - LOST_AFTER:
            in_name_only.setdefault(row.queue, []).append(row)
    for name, candidates in in_name_only.items():
        queue = get_queue(name)
        held = set(queue.get_job_ids()) | set(queue.intermediate_queue.get_job_ids())
        lost += [row for row in candidates if f"outbox-{row.id}" not in held]
    return relay([(row.id, row.queue, _task_timeout(row.task)) for row in lost])


def pending_count(session: Session) -> int:
    """How many messages have not run yet."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None)))


def run_message(session: Session, message_id: str) -> bool:
    """Run one message's task and mark it done, once; False if it was already done."""
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise LookupError(f"outbox message {message_id} does not exist")
    if message.done_at is not None:
        return False
    resolve_task(message.task)(session, **message.args)
    message.done_at = utcnow()
    session.flush()
    return True


@contextmanager
def relay_held(session: Session) -> Iterator[None]:
    """Messages committed inside are handed to RQ when the block ends, not at each commit.

    For commits that become durable together at the end (``loyalty.db.durable_at_end``):
    no job runs on data a crash could still take back. If the block fails, the
    messages are left to ``relay_pending``.
    """
    held: list[tuple[str, str, int | None]] = []
    session.info[_HELD_KEY] = held
    try:
        yield
    finally:
        session.info.pop(_HELD_KEY, None)
    relay(held)


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    # SQLAlchemy also calls this when a savepoint (begin_nested) is released: the
    # transaction goes on then, and may still roll back; only its real end relays.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        held = session.info.get(_HELD_KEY)
        if held is not None:
            held.extend(pending)
        else:
            relay(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    # A savepoint rolled back leaves the transaction, and what it recorded before, going on.
    if not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)
