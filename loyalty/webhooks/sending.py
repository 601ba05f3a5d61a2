"""Events recorded in the transaction of their change, and the attempts that deliver them (see services)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.db import isoformat_z, new_id, utcnow
from loyalty.outbox.services import add_task, task
from loyalty.queue import get_queue, get_redis
from loyalty.webhooks import delivery as http
from loyalty.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription

log = logging.getLogger(__name__)

# What a partner can subscribe to; docs/partner-webhooks.md describes each payload and who receives it.
EVENT_TYPES = (
    "member.enrolled",
    "points.earned",
    "points.returned",
    "reward.issued",
    "reward.used",
    "tier.changed",
    "campaign.offer",
)
PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED, CANCELLED)
DELIVER_JOB = "loyalty.webhooks.jobs.deliver"
QUEUE = "webhooks"


def emit_event(
    session: Session, *, type: str, merchant_ids: Iterable[str | None], data: dict[str, Any]
) -> WebhookEvent | None:
    """Record an event for the merchants named (None and repeats are ignored), in the caller's transaction.

    Returns the event, or None when no live subscription of those merchants receives its type.
    """
    return emit_events(session, [(type, merchant_ids, data)])[0]


def emit_events(
    session: Session, events: Sequence[tuple[str, Iterable[str | None], dict[str, Any]]]
) -> list[WebhookEvent | None]:
    """Record many events at once (a batch job's): one read of the subscriptions, one insert per table."""
    if any(kind not in EVENT_TYPES for kind, _, _ in events):
        raise ValueError(f"unknown event type among {[kind for kind, _, _ in events]}")
    targets = [list(dict.fromkeys(m for m in merchant_ids if m)) for _, merchant_ids, _ in events]
    merchants = {m for names in targets for m in names}
    if not merchants:
        return [None] * len(events)
    subscriptions: dict[str, list[tuple[str, list[str]]]] = {}
    rows = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.merchant_id, WebhookSubscription.events).where(
            WebhookSubscription.merchant_id.in_(merchants), WebhookSubscription.deleted_at.is_(None)
        )
    ).all()
    if not rows:
        return [None] * len(events)
    for row in rows:
        subscriptions.setdefault(row.merchant_id, []).append((row.id, list(row.events)))
    now = utcnow()
    written: list[WebhookEvent | None] = []
    event_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for (kind, _, data), names in zip(events, targets, strict=True):
        receivers = [sid for m in names for sid, types in subscriptions.get(m, []) if kind in types]
        if not receivers:
            written.append(None)
            continue
        event = WebhookEvent(id=new_id("evt"), type=kind, created_at=now)
        event.body = json.dumps(
            {"id": event.id, "type": kind, "created_at": isoformat_z(now), "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        written.append(event)
        event_rows.append({"id": event.id, "type": kind, "body": event.body, "created_at": now})
        delivery_rows.extend(new_delivery_row(sid, event.id, kind, now) for sid in receivers)
    if event_rows:
        session.execute(insert(WebhookEvent.__table__), event_rows)
        session.execute(insert(WebhookDelivery.__table__), delivery_rows)
        add_task(session, dispatch_deliveries, delivery_ids=[row["id"] for row in delivery_rows])
    return written


def new_delivery_row(subscription_id: str, event_id: str, event_type: str, now: datetime, **extra: Any) -> dict:
    return {
        "id": new_id("whd"),
        "subscription_id": subscription_id,
        "event_id": event_id,
        "event_type": event_type,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        **extra,
    }


@task(queue=QUEUE)
def dispatch_deliveries(session: Session, *, delivery_ids: list[str]) -> None:
    """Hand each delivery to its RQ job (once: the job id is the delivery's)."""
    for delivery_id in delivery_ids:
        enqueue_delivery(delivery_id)


_LIVE_JOB = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def enqueue_delivery(delivery_id: str) -> None:
    """Queue the delivery's job unless it is already waiting or running in Redis."""
    job_id = f"webhook-{delivery_id}"
    connection = get_redis()
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        job = None
    if job is not None:
        if job.get_status(refresh=False) in _LIVE_JOB:
            return
        job.delete()  # a job that ended (a worker lost mid-attempt, say) while its delivery is still pending
    get_queue(QUEUE).enqueue(
        DELIVER_JOB,
        delivery_id,
        job_id=job_id,
        job_timeout=int(http.settings().timeout_seconds) + 60,
        result_ttl=24 * 3600,
        failure_ttl=30 * 24 * 3600,
    )


def start_attempt(session: Session, delivery_id: str) -> http.Attempt | None:
    """What the next attempt of a pending delivery sends; None when there is nothing to send."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.status != PENDING:
        return None
    subscription = session.get(WebhookSubscription, row.subscription_id)
    if subscription.deleted_at is not None:
        row.status = CANCELLED
        row.next_attempt_at = None
        return None
    event = session.get(WebhookEvent, row.event_id)
    secrets = [crypto.decrypt(subscription.secret_encrypted)]
    previous_until = subscription.previous_secret_expires_at
    if subscription.previous_secret_encrypted and previous_until is not None and previous_until > utcnow():
        secrets.append(crypto.decrypt(subscription.previous_secret_encrypted))
    return http.Attempt(
        delivery_id=row.id,
        event_id=event.id,
        event_type=event.type,
        url=subscription.url,
        body=event.body.encode(),
        secrets=tuple(secrets),
    )


def finish_attempt(session: Session, delivery_id: str, result: http.AttemptResult) -> int | None:
    """Record an attempt; returns the seconds until the next one, or None when the delivery is settled."""
    row = session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
    now = utcnow()
    row.attempts += 1
    row.last_attempt_at = now
    row.response_code = result.status_code
    row.last_error = result.error
    row.next_attempt_at = None
    if row.status != PENDING:  # cancelled while the attempt was under way: it stays so
        return None
    if result.ok:
        row.status = SUCCEEDED
        row.delivered_at = now
        return None
    intervals = http.retry_intervals()
    if row.attempts >= http.settings().max_attempts:
        row.status = FAILED
        log.warning("webhook delivery %s failed after %d attempts: %s", row.id, row.attempts, result.error)
        return None
    wait = intervals[min(row.attempts - 1, len(intervals) - 1)]
    row.next_attempt_at = now + timedelta(seconds=wait)
    return wait


def stalled_deliveries(session: Session, *, older_than: timedelta, limit: int = 1000) -> list[str]:
    """Pending deliveries whose attempt is overdue by ``older_than`` (their job lost with Redis, say)."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == PENDING,
                or_(
                    WebhookDelivery.next_attempt_at <= cutoff,
                    WebhookDelivery.next_attempt_at.is_(None) & (WebhookDelivery.created_at <= cutoff),
                ),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )


def cancel_pending(session: Session, subscription_id: str) -> int:
    """Cancel the pending deliveries of a subscription (it was deleted); returns how many."""
    return session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == PENDING)
        .values(status=CANCELLED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
