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


def requeue_stalled() -> int:
    """Queue again the pending deliveries whose attempt is long overdue (rq cron; their job was lost)."""
    with unit_of_work() as session:
        stalled = sending.stalled_deliveries(session, older_than=timedelta(minutes=15))
    for delivery_id in stalled:
        sending.enqueue_delivery(delivery_id)
    return len(stalled)
