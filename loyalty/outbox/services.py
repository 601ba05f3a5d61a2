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
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from rq.job import Job
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.outbox.models import OutboxMessage
from loyalty.queue import get_queue, get_redis

log = logging.getLogger(__name__)

RUNNER = "loyalty.outbox.jobs.run_message"
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
_PENDING_KEY = "outbox_pending"


def task(queue: str = "default") -> Callable:
    """Mark a function ``fn(session, **args)`` as runnable from the outbox."""

    def mark(fn: Callable) -> Callable:
        fn.outbox_queue = queue  # type: ignore[attr-defined]
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


def add_tasks(session: Session, fn: Callable, many_args: Sequence[dict[str, Any]]) -> list[OutboxMessage]:
    """Record one run of ``fn`` per set of arguments, written together (a batch job's)."""
    if not hasattr(fn, "outbox_queue"):
        raise TypeError(f"{task_path(fn)} is not an outbox task")
    messages = [OutboxMessage(queue=fn.outbox_queue, task=task_path(fn), args=args) for args in many_args]
    session.add_all(messages)
    session.flush()
    session.info.setdefault(_PENDING_KEY, []).extend((message.id, message.queue) for message in messages)
    return messages


def enqueue_message(message_id: str, queue: str) -> None:
    """Hand one message to RQ; the job id is the message id, so it is enqueued once."""
    get_queue(queue).enqueue(
        RUNNER,
        message_id,
        job_id=f"outbox-{message_id}",
        retry=RETRY,
        failure_ttl=90 * 24 * 3600,
    )


def relay(messages: Iterable[tuple[str, str]]) -> int:
    """Enqueue freshly committed messages; on a Redis failure leave them for the sweep."""
    sent = 0
    for message_id, queue in messages:
        try:
            enqueue_message(message_id, queue)
            sent += 1
        except RedisError as exc:
            log.warning("outbox: Redis unavailable, %s left for the sweep: %s", message_id, exc)
            break
    return sent


def relay_pending(session: Session, *, older_than: timedelta = timedelta(seconds=30), limit: int = 1000) -> int:
    """Enqueue messages not done whose job is missing from Redis (lost while it was down)."""
    cutoff = utcnow() - older_than
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.queue)
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.created_at <= cutoff)
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    ).all()
    connection = get_redis()
    missing = [(mid, q) for mid, q in rows if not Job.exists(f"outbox-{mid}", connection=connection)]
    return relay(missing)


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


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        relay(pending)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
