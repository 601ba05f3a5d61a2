"""``TillClient``: what a point-of-sale calls, online for look-ups and spending, through the queue for sales."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote as quote_path
from urllib.parse import urlencode

from pos_plugins.client.batch import MAX_BATCH
from pos_plugins.client.delivery import PURCHASE, RETURN, Delivery, FlushResult
from pos_plugins.client.errors import (
    ApiError,
    InvalidCard,
    MemberNotFound,
    QueuedSaleError,
    RateLimited,
    ServiceUnavailable,
    error_for,
)
from pos_plugins.client.models import (
    Member,
    Payment,
    PurchaseReceipt,
    QueuedRequest,
    Quote,
    Redemption,
    ReturnReceipt,
)
from pos_plugins.client.queue import DELIVERED, PENDING, REJECTED, Backoff, LocalConflict, Outbox, Row
from pos_plugins.client.transport import Transport

log = logging.getLogger(__name__)

CARD_LENGTH = 16
KEEP_DELIVERED_SECONDS = 30 * 86400


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits ends with a correct Luhn check digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_number_from(text: str) -> str:
    """The card number in a typed or scanned text (spaces, dashes and line ends allowed); ``InvalidCard`` if none."""
    digits = "".join(ch for ch in text.strip() if ch not in " -\t\r\n")
    if not (len(digits) == CARD_LENGTH and digits.isascii() and digits.isdigit() and luhn_valid(digits)):
        raise InvalidCard(f"{text!r} is not a card number (16 digits with a valid check digit).")
    return digits


@dataclass(frozen=True)
class Item:
    """One line of a basket."""

    sku: str
    quantity: int
    unit_price_minor: int
    category: str | None = None

    def to_json(self) -> dict:
        line: dict[str, Any] = {"sku": self.sku, "quantity": self.quantity, "unit_price_minor": self.unit_price_minor}
        if self.category is not None:
            line["category"] = self.category
        return line


def _items(items: Iterable[Item | Mapping] | None) -> list[dict]:
    return [item.to_json() if isinstance(item, Item) else dict(item) for item in items or ()]


def _member_ref(card_number, member_id, phone, email, qr) -> dict | None:
    if qr is not None:
        card_number = qr
    if card_number is not None:
        card_number = card_number_from(card_number)
    given = {
        name: value
        for name, value in (("card_number", card_number), ("member_id", member_id), ("phone", phone), ("email", email))
        if value
    }
    if len(given) > 1:
        raise ValueError("Name the member by one of card_number (or qr), member_id, phone or email.")
    return given or None


def _now_iso(clock) -> str:
    return datetime.fromtimestamp(clock()).astimezone().isoformat(timespec="seconds")


def _encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class TillClient:
    """A till's connection to the loyalty service, with its durable queue of sales.

    Look-ups, enrolment, quotes and spending points are online: they answer or
    raise. Purchases and returns are written to the queue first and sent in
    order: when the service cannot be reached the receipt comes back with
    ``points_pending_delivery=True`` and the sale is delivered by a later
    ``flush()`` (or the background thread), exactly once.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        signing_secret: str | None,
        queue_path: str,
        timeout: float = 10.0,
        *,
        clock=None,
        backoff: Backoff | None = None,
        batch_size: int = MAX_BATCH,
    ):
        self.clock = clock or time.time
        self.transport = Transport(base_url, api_key, signing_secret, timeout=timeout, clock=self.clock)
        self.outbox = Outbox(queue_path, clock=self.clock)
        self.delivery = Delivery(
            self.transport, self.outbox, clock=self.clock, backoff=backoff or Backoff(), batch_size=batch_size
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- online ---------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None, *, retries: int = 0):
        """One request; with ``retries``, an unanswered request carrying an idempotency key is sent again."""
        encoded = _encode(body) if body is not None else None
        for attempt in range(retries + 1):
            try:
                return self.transport.request(method, path, encoded)
            except (ServiceUnavailable, RateLimited):
                if attempt == retries:
                    raise
                time.sleep(min(2.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")

    def _lookup(self, **query: str) -> Member:
        answer = self._call("GET", "/members?" + urlencode(query))
        items = answer.body.get("items", []) if isinstance(answer.body, dict) else []
        if not items:
            raise MemberNotFound("No member matches that identifier.", status=404)
        return Member.from_json(items[0])

    def lookup_card(self, card_number: str) -> Member:
        """The member holding this card (spaces and dashes allowed); ``InvalidCard`` before any request if mistyped."""
        return self._lookup(card_number=card_number_from(card_number))

    def lookup_qr(self, scan_text: str) -> Member:
        """The member whose card QR code was scanned: the code holds the card number."""
        return self._lookup(card_number=card_number_from(scan_text))

    def lookup_phone(self, phone: str) -> Member:
        """The member with this E.164 phone number."""
        return self._lookup(phone=phone.strip())

    def lookup_email(self, email: str) -> Member:
        """The member with this email address."""
        return self._lookup(email=email.strip())

    def get_member(self, member_id: str) -> Member:
        """A member by id, with the current balance."""
        return Member.from_json(self._call("GET", f"/members/{quote_path(member_id, safe='')}").body)

    def enrol(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        locale: str | None = None,
        marketing_opt_in: bool | None = None,
        referral_code: str | None = None,
    ) -> Member:
        """Enrol a shopper at the till (an email or an E.164 phone at least); ``MemberExists`` if already enrolled."""
        fields = {
            "email": email,
            "phone": phone,
            "name": name,
            "locale": locale,
            "marketing_opt_in": marketing_opt_in,
            "referral_code": referral_code,
        }
        return Member.from_json(self._call("POST", "/members", {k: v for k, v in fields.items() if v is not None}).body)

    def quote(
        self,
        *,
        total_minor: int,
        currency: str,
        items: Iterable[Item | Mapping] | None = None,
        card_number: str | None = None,
        member_id: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        qr: str | None = None,
        occurred_at: str | None = None,
    ) -> Quote:
        """What a basket would earn now; nothing is written."""
        body = self._purchase_body(None, total_minor, currency, items, card_number, member_id, phone, email, qr)
        body["occurred_at"] = occurred_at or _now_iso(self.clock)
        return Quote.from_json(self._call("POST", "/purchases/quote", body).body)

    def redeem_reward(self, *, member_id: str, reward_id: str, idempotency_key: str) -> Redemption:
        """Spend points on a reward; the answer carries the code to use it. Safe to call again with the same key."""
        body = {"member_id": member_id, "reward_id": reward_id, "idempotency_key": idempotency_key}
        return Redemption.from_json(self._call("POST", "/redemptions", body, retries=2).body)

    def pay_with_points(self, *, member_id: str, points: int, idempotency_key: str) -> Payment:
        """Take ``points`` as payment at the program's rate. Safe to call again with the same key."""
        body = {"member_id": member_id, "points": points, "idempotency_key": idempotency_key}
        return Payment.from_json(self._call("POST", "/redemptions", body, retries=2).body)

    def use_reward_code(self, code: str, *, use_key: str | None = None) -> Redemption:
        """Mark a reward's code used (case, spaces and dashes do not matter); ``AlreadyUsed`` the second time.

        The use carries a key of its own (``use_key``, new by default), so when an answer is lost the
        request is sent again and the service replays its first answer instead of ``AlreadyUsed``.
        """
        body = {"code": code, "use_key": use_key or uuid.uuid4().hex}
        return Redemption.from_json(self._call("POST", "/redemptions/use", body, retries=2).body)

    # -- through the queue ----------------------------------------------------

    def _purchase_body(self, external_id, total_minor, currency, items, card_number, member_id, phone, email, qr):
        body: dict[str, Any] = {}
        if external_id is not None:
            body["external_id"] = external_id
        member = _member_ref(card_number, member_id, phone, email, qr)
        if member:
            body["member"] = member
        body.update(currency=currency, total_minor=total_minor, items=_items(items))
        return body

    def purchase(
        self,
        external_id: str,
        *,
        total_minor: int,
        currency: str,
        items: Iterable[Item | Mapping] | None = None,
        card_number: str | None = None,
        member_id: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        qr: str | None = None,
        occurred_at: str | None = None,
        deliver: bool = True,
    ) -> PurchaseReceipt:
        """Record a sale: queued durably first, then sent at once when nothing waits ahead of it.

        ``external_id`` is the receipt's id and the idempotency key: a sale
        recorded again with the same id and body is the same sale. The time of
        sale defaults to now, so a sale delivered late still earns as of when
        it was made. A refusal (``MemberNotFound``, ``ValidationError``...) is
        raised and the sale stays in the queue as ``rejected``.
        """
        body = self._purchase_body(external_id, total_minor, currency, items, card_number, member_id, phone, email, qr)
        body["occurred_at"] = occurred_at or _now_iso(self.clock)
        row = self._enqueue(PURCHASE, external_id, _encode(body), path="/purchases")
        row = self._deliver_if_first(row, deliver)
        if row.status == DELIVERED:
            return PurchaseReceipt.from_json(json.loads(row.response or b"{}"), replayed=row.http_status == 200)
        return PurchaseReceipt.pending(external_id)

    def return_items(
        self,
        external_id: str,
        *,
        purchase_id: str | None = None,
        purchase_external_id: str | None = None,
        items: Iterable[Mapping] | None = None,
        amount_minor: int | None = None,
        deliver: bool = True,
    ) -> ReturnReceipt:
        """Goods (``items``: ``[{sku, quantity}]``) or an amount given back, through the queue like a sale.

        Name the purchase by the service's ``purchase_id``, or by the till's
        ``purchase_external_id`` when the sale went through this till's queue
        (it may not even be delivered yet: the return is sent after it).
        """
        if (purchase_id is None) == (purchase_external_id is None):
            raise ValueError("Name the purchase by purchase_id or by purchase_external_id, not both.")
        if (items is None) == (amount_minor is None):
            raise ValueError("Return items or an amount_minor, not both.")
        if purchase_external_id is not None and self.outbox.get(PURCHASE, purchase_external_id) is None:
            raise QueuedSaleError(
                f"The purchase {purchase_external_id!r} is not in this till's queue; name it by purchase_id."
            )
        body: dict[str, Any] = {"external_id": external_id}
        if items is not None:
            body["items"] = [dict(item) for item in items]
        else:
            body["amount_minor"] = amount_minor
        path = f"/purchases/{quote_path(purchase_id, safe='')}/returns" if purchase_id else None
        row = self._enqueue(RETURN, external_id, _encode(body), path=path, purchase_external_id=purchase_external_id)
        row = self._deliver_if_first(row, deliver)
        if row.status == DELIVERED:
            return ReturnReceipt.from_json(
                json.loads(row.response or b"{}"), external_id=external_id, replayed=row.http_status == 200
            )
        return ReturnReceipt.pending(external_id)

    def _enqueue(self, kind, external_id, body, **kwargs) -> Row:
        try:
            return self.outbox.enqueue(kind, external_id, body, **kwargs)
        except LocalConflict as error:
            raise QueuedSaleError(str(error)) from error

    def _deliver_if_first(self, row: Row, deliver: bool) -> Row:
        if row.status == PENDING and deliver:
            head = self.outbox.head()
            # Only when nothing waits ahead of it: a backlog is the flusher's, never the cashier's, to wait for.
            if head is not None and head.seq == row.seq and head.next_attempt_at <= self.clock():
                self.flush(limit=1)
        row = self.outbox.get(row.kind, row.external_id) or row
        if row.status == REJECTED:
            raise self._rejection(row)
        return row

    @staticmethod
    def _rejection(row: Row) -> ApiError:
        body = json.loads(row.response) if row.response else {"reason": row.reason, "message": row.last_error}
        return error_for(row.http_status or 422, body)

    # -- delivery -------------------------------------------------------------

    def flush(self, *, limit: int | None = None, force: bool = False) -> FlushResult:
        """Deliver, in order, the queued requests that are due; stops at the first one that must wait.

        Consecutive purchases go in batches of up to ``batch_size``
        (``POST /purchases/batch``), returns one by one. ``force`` sends the
        head of the queue even if its backoff has not run out (the operator
        knows the service is back).
        """
        return self.delivery.flush(limit=limit, force=force)

    def queue(self, *, status: str | None = None, limit: int = 1000) -> list[QueuedRequest]:
        """The queue in order: pending, delivered and rejected requests with their attempts and last error."""
        return [row.public() for row in self.outbox.listing(status=status, limit=limit)]

    def queue_counts(self) -> dict[str, int]:
        return self.outbox.counts()

    def requeue(self, seq: int) -> bool:
        """Send a rejected request again, in its place in the order (after fixing what made it fail)."""
        return self.outbox.requeue(seq)

    def prune(self, *, keep_seconds: float = KEEP_DELIVERED_SECONDS) -> int:
        """Forget delivered requests older than ``keep_seconds``."""
        return self.outbox.prune(older_than=self.clock() - keep_seconds)

    # -- background delivery --------------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        """Deliver the queue from a background thread, checking every ``interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.flush()
                except Exception:
                    log.exception("Delivering the till's queue failed; it is tried again.")
                self._stop.wait(interval)

        self._thread = threading.Thread(target=run, name="loyalty-pos-flush", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background thread and close the connection and the queue (nothing queued is lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.transport.close()
        self.outbox.close()

    def __enter__(self) -> TillClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
