"""Delivering the till's queue: in order, once each, purchases in batches when the service takes them.

The head of the queue goes first; the purchases right behind it go with it in
one ``POST /purchases/batch`` (up to ``batch_size``). The service answers each
sale as ``POST /purchases`` would, so each is marked as if it had been sent
alone: delivered, rejected for good, or kept to send again, in which case the
sales behind it wait too. A service without the batch endpoint gets the sales
one by one.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import quote as quote_path

from pos_plugins.client.batch import BATCH_PATH, MAX_BATCH, batch_body, read_results
from pos_plugins.client.errors import ApiError, Unauthenticated, error_for, is_retryable
from pos_plugins.client.models import QueuedRequest
from pos_plugins.client.queue import PENDING, REJECTED, Backoff, Outbox, Row
from pos_plugins.client.transport import Transport

log = logging.getLogger(__name__)

PURCHASE, RETURN = "purchase", "return"
LEASE_SECONDS = 60.0
# A service without POST /purchases/batch (older than it) is asked again after this long.
BATCH_RETRY_SECONDS = 3600.0


@dataclass
class FlushResult:
    """What one ``flush()`` did."""

    delivered: int = 0
    rejected: int = 0
    pending: int = 0
    next_attempt_at: float | None = None
    error: ApiError | None = None
    rejections: list[QueuedRequest] = field(default_factory=list)


def _encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _must_wait(error: ApiError) -> bool:
    """Whether a request is to be sent again later rather than rejected: no answer, 408, 429, 5xx, or 401.

    401s are about the till (its clock, key or secret), not the sale: the sale
    waits until the till is fixed instead of being thrown away.
    """
    return error.status is None or is_retryable(error.status) or isinstance(error, Unauthenticated)


class Delivery:
    """Sends a queue's requests; one flush at a time per process, one process at a time per queue (a lease)."""

    def __init__(self, transport: Transport, outbox: Outbox, *, clock, backoff: Backoff, batch_size: int = MAX_BATCH):
        self.transport, self.outbox, self.clock, self.backoff = transport, outbox, clock, backoff
        # 1 sends every sale on its own, as a till did before batches.
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self._batch_cap = self.batch_size  # smaller for a while after a batch went unanswered
        self._no_batches_until = 0.0
        self._lock = threading.Lock()

    def flush(self, *, limit: int | None = None, force: bool = False) -> FlushResult:
        """Deliver, in order, the queued requests that are due; stops at the first one that must wait.

        Consecutive purchases go in batches of up to ``batch_size``
        (``POST /purchases/batch``), returns one by one. ``force`` sends the
        head of the queue even if its backoff has not run out (the operator
        knows the service is back).
        """
        result = FlushResult()
        with self._lock:
            if not self.outbox.acquire(LEASE_SECONDS):
                result.pending = self.outbox.counts()[PENDING]
                return result
            lease_until = self.clock() + LEASE_SECONDS / 2
            try:
                while limit is None or result.delivered + result.rejected < limit:
                    row = self.outbox.head()
                    if row is None:
                        break
                    if not force and row.next_attempt_at > self.clock():
                        result.next_attempt_at = row.next_attempt_at
                        break
                    force = False
                    if self.clock() > lease_until:
                        self.outbox.acquire(LEASE_SECONDS)
                        lease_until = self.clock() + LEASE_SECONDS / 2
                    room = None if limit is None else limit - result.delivered - result.rejected
                    if not self._count(result, self._deliver_from(row, room)):
                        head = self.outbox.head()
                        result.next_attempt_at = head.next_attempt_at if head else None
                        break
            finally:
                self.outbox.release()
        result.pending = self.outbox.counts()[PENDING]
        return result

    @staticmethod
    def _count(result: FlushResult, outcomes: list[ApiError | QueuedRequest | None]) -> bool:
        """Add up what was sent; False when a request must wait (the flush stops there)."""
        for outcome in outcomes:
            if outcome is None:
                result.delivered += 1
            elif isinstance(outcome, QueuedRequest):
                result.rejected += 1
                result.rejections.append(outcome)
            else:
                result.error = outcome
                return False
        return True

    def _deliver_from(self, head: Row, room: int | None) -> list[ApiError | QueuedRequest | None]:
        """Send the head of the queue, with the purchases right behind it when they can go in one batch."""
        rows = self._next_batch(head, room)
        if len(rows) > 1:
            outcomes = self._send_batch(rows)
            if outcomes is not None:
                return outcomes
            # No batch today: the same sales one by one, stopping at the first that must wait.
            outcomes = []
            for row in rows:
                outcomes.append(self._send(row))
                if isinstance(outcomes[-1], ApiError):
                    break
            return outcomes
        return [self._send(head)]

    def _next_batch(self, head: Row, room: int | None) -> list[Row]:
        size = self._batch_cap if room is None else min(self._batch_cap, room)
        if head.kind != PURCHASE or size < 2 or self.clock() < self._no_batches_until:
            return [head]
        now = self.clock()
        rows = [head]
        for row in self.outbox.oldest_pending(size)[1:]:
            # A return waits for its turn (and its purchase's id); so does a sale still backing off.
            if row.kind != PURCHASE or row.next_attempt_at > now:
                break
            rows.append(row)
        return rows

    def _send_batch(self, rows: list[Row]) -> list[ApiError | QueuedRequest | None] | None:
        """Send purchases together; their outcomes in order up to the first that must wait, None to send each alone.

        The service answers each sale as ``POST /purchases`` would, so each is
        marked exactly as if sent alone; all the marks go in one commit.
        """
        try:
            answer = self.transport.request("POST", BATCH_PATH, batch_body(rows))
        except ApiError as error:
            if error.status in (404, 405):
                # A service older than batches (405: its /purchases/<id> takes GET only).
                self._no_batches_until = self.clock() + BATCH_RETRY_SECONDS
                log.info("The service takes no batches of purchases; sending them one by one.")
                return None
            if _must_wait(error):
                if error.status is None:
                    # No answer at all: the batch may have taken longer than the till waits. The next is smaller.
                    self._batch_cap = max(2, len(rows) // 2)
                return [self._settle(rows[0], error)]
            return None  # refused whole (too large, for instance): each is sent, and answered, on its own
        results = read_results(answer.body, [row.external_id for row in rows])
        if results is None:
            log.warning("The service's answer to a batch did not match the sales sent; sending them one by one.")
            self._no_batches_until = self.clock() + BATCH_RETRY_SECONDS
            return None
        self._batch_cap = min(self.batch_size, self._batch_cap * 2)
        outcomes: list[ApiError | QueuedRequest | None] = []
        with self.outbox.transaction():
            for row, answered in zip(rows, results, strict=True):
                status = answered["status"]
                if status < 300:
                    self.outbox.mark_delivered(row.seq, http_status=status, response=_encode(answered["receipt"]))
                    outcomes.append(None)
                    continue
                outcomes.append(self._settle(row, error_for(status, answered.get("error"))))
                if isinstance(outcomes[-1], ApiError):
                    break  # the sales behind it keep their place and wait with it
        return outcomes

    def _send(self, row: Row) -> ApiError | QueuedRequest | None:
        """Send one row: None when delivered, the rejected row when refused for good, the error when to retry."""
        path = row.path
        if path is None:  # a return naming its purchase by the till's external id
            purchase = self.outbox.get(PURCHASE, row.purchase_external_id or "")
            if purchase is None or purchase.status == REJECTED:
                self.outbox.mark_rejected(
                    row.seq,
                    http_status=None,
                    reason="purchase_rejected",
                    message=f"The purchase {row.purchase_external_id!r} was not accepted by the service.",
                )
                return self.outbox.get(row.kind, row.external_id).public()
            purchase_id = json.loads(purchase.response or b"{}")["id"]
            path = f"/purchases/{quote_path(purchase_id, safe='')}/returns"
        try:
            answer = self.transport.request("POST", path, row.body)
        except ApiError as error:
            return self._settle(row, error)
        response = _encode(answer.body) if isinstance(answer.body, dict) else bytes(answer.body or b"")
        self.outbox.mark_delivered(row.seq, http_status=answer.status, response=response)
        return None

    def _settle(self, row: Row, error: ApiError) -> ApiError | QueuedRequest:
        """A refused or unanswered request: kept to send again later (the error), or rejected for good (its row)."""
        if _must_wait(error):
            delay = self.backoff.delay(row.attempts + 1)
            self.outbox.mark_retry(
                row.seq,
                next_attempt_at=self.clock() + delay,
                http_status=error.status,
                reason=error.reason,
                message=error.message,
            )
            return error
        self.outbox.mark_rejected(
            row.seq,
            http_status=error.status,
            reason=error.reason,
            message=error.message,
            response=_encode(error.body) if error.body else None,
        )
        return self.outbox.get(row.kind, row.external_id).public()
