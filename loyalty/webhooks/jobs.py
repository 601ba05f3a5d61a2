"""RQ entry points of webhook delivery. Jobs receive ids, never objects."""

from __future__ import annotations

import time
from datetime import timedelta

from rq import Retry

from loyalty.db import unit_of_work
from loyalty.webhooks import delivery as http
from loyalty.webhooks import sending


def deliver(delivery_id: str) -> Retry | None:
    """Make one attempt of a delivery, outside any transaction, and record it in a short one.

    A failed attempt returns an ``rq.Retry``: RQ runs the job again after the next
    interval of the exponential backoff (the worker's scheduler). The attempt count
    lives in the database, so the delivery is settled as failed there, not in RQ.
    """
    with unit_of_work() as session:
        attempt = sending.start_attempt(session, delivery_id)
    if attempt is None:
        return None
    result = http.send(attempt, timestamp=int(time.time()))
    with unit_of_work() as session:
        wait = sending.finish_attempt(session, delivery_id, result)
    if wait is None:
        return None
    settings = http.settings()
    return Retry(max=max(settings.max_attempts - 1, 1), interval=http.retry_intervals(settings))


# A pending delivery this overdue has lost its job, or its job is merely late (a long queue): sending it
# again is safe either way, as ``enqueue_delivery`` leaves a job that is still queued or running alone.
STALLED_AFTER = timedelta(minutes=2)


def requeue_stalled() -> int:
    """Queue again the pending deliveries whose attempt is overdue and whose job is gone (rq cron, every minute).

    A job is gone when Redis lost it (flushed, no append-only file), or when the worker running it died or lost
    Redis mid-attempt: RQ's upkeep then fails that job once its heartbeat lapses, a minute or two later.
    """
    with unit_of_work() as session:
        stalled = sending.stalled_deliveries(session, older_than=STALLED_AFTER)
    for delivery_id in stalled:
        sending.enqueue_delivery(delivery_id)
    return len(stalled)
