"""The till's queue: written before sending, delivered in order, retried with backoff, refusals kept."""

from __future__ import annotations

import random
import socket

import pytest

from pos_plugins.client import (
    Backoff,
    MemberNotFound,
    ServiceUnavailable,
    StaleRequest,
    TillClient,
    ValidationError,
)
from pos_plugins.client.errors import error_for
from tests.pos.stub import API_KEY, SECRET, StubService


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _sale(client: TillClient, n: int, **kwargs):
    return client.purchase(f"R-{n:05d}", total_minor=1000 + n, currency="EUR", card_number=None, **kwargs)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def stub(clock):
    with StubService(now=clock) as service:
        yield service


@pytest.fixture
def till(stub, clock, tmp_path):
    client = TillClient(
        stub.base, API_KEY, SECRET, str(tmp_path / "queue.db"), 5, clock=clock, backoff=Backoff(rng=random.Random(7))
    )
    yield client
    client.close()


def test_backoff_doubles_with_jitter_up_to_its_cap():
    backoff = Backoff(base=1, factor=2, cap=60, rng=random.Random(1))
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]:
        delays = [backoff.delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_a_sale_is_delivered_at_once_when_the_service_answers(till, stub):
    receipt = _sale(till, 1)
    assert not receipt.points_pending_delivery
    assert receipt.points_awarded == 10 and receipt.id == "pur_1"
    assert till.queue_counts() == {"pending": 0, "delivered": 1, "rejected": 0}


def test_an_outage_queues_the_sale_and_backs_off_before_sending_again(till, stub, clock):
    stub.script = [(503, {"code": 503, "reason": "unavailable", "message": "down"})]
    receipt = _sale(till, 1)
    assert receipt.points_pending_delivery and receipt.points_awarded is None
    [row] = till.queue()
    assert row.status == "pending" and row.attempts == 1 and row.reason == "unavailable"
    first_wait = row.next_attempt_at - clock.now
    assert 0.5 <= first_wait <= 1.0

    # Sales made meanwhile wait behind it, without touching the network.
    sent = len(stub.requests)
    for n in range(2, 5):
        assert _sale(till, n).points_pending_delivery
    assert len(stub.requests) == sent
    assert till.flush().delivered == 0

    stub.script = [(502, {}), (504, {})]
    clock.now += first_wait
    result = till.flush()
    assert result.delivered == 0 and isinstance(result.error, ServiceUnavailable)
    clock.now = till.queue()[0].next_attempt_at
    till.flush()
    row = till.queue()[0]
    assert row.attempts == 3 and 2 <= row.next_attempt_at - clock.now <= 4

    clock.now = row.next_attempt_at
    result = till.flush()
    assert result.delivered == 4 and result.pending == 0
    assert stub.posted_external_ids()[-4:] == ["R-00001", "R-00002", "R-00003", "R-00004"]
    assert list(stub.accepted) == ["R-00001", "R-00002", "R-00003", "R-00004"]


def test_a_refusal_is_final_and_kept_with_its_reason_while_the_queue_moves_on(till, stub):
    stub.script = [(503, {})]
    _sale(till, 1)
    _sale(till, 2)
    _sale(till, 3)
    stub.script = [(404, {"code": 404, "reason": "member_not_found", "message": "No member."})]
    result = till.flush(force=True)
    assert result.delivered == 2 and result.rejected == 1
    assert [(r.external_id, r.status, r.reason) for r in till.queue()] == [
        ("R-00001", "rejected", "member_not_found"),
        ("R-00002", "delivered", None),
        ("R-00003", "delivered", None),
    ]
    # Refused at once, the cashier sees the typed error.
    stub.script = [(422, {"code": 422, "reason": "validation_error", "message": "bad", "errors": {"items": ["x"]}})]
    with pytest.raises(ValidationError) as refused:
        _sale(till, 4)
    assert refused.value.errors == {"items": ["x"]}


def test_408_and_429_are_retried_like_an_outage(till, stub):
    stub.script = [(429, {"code": 429, "reason": "rate_limited", "message": "slow down"})]
    assert _sale(till, 1).points_pending_delivery
    stub.script = [(408, {})]
    assert till.flush(force=True).delivered == 0
    assert till.flush(force=True).delivered == 1


def test_a_lost_answer_is_sent_again_and_replayed_never_awarded_twice(till, stub, clock):
    receipt = _sale(till, 1)
    # The service committed the sale but the till never saw the answer: it is still pending on the till.
    till.outbox._update("UPDATE requests SET status = 'pending' WHERE external_id = ?", (receipt.external_id,))
    assert till.flush(force=True).delivered == 1
    assert len(stub.accepted) == 1 and stub.posted_external_ids() == ["R-00001", "R-00001"]


def test_a_wrong_clock_holds_the_queue_and_says_so(till, stub, clock):
    right_time = clock.now
    stub.now = lambda: right_time
    clock.now += 3600  # the till's clock is an hour fast
    assert _sale(till, 1).points_pending_delivery
    result = till.flush(force=True)
    assert isinstance(result.error, StaleRequest)
    assert till.queue()[0].status == "pending" and till.queue()[0].reason == "stale_request"
    clock.now -= 3600
    assert till.flush(force=True).delivered == 1


def test_a_stale_request_names_the_clock_offset():
    error = error_for(401, {"reason": "stale_request", "message": "Too far."}, clock_offset=3600)
    assert isinstance(error, StaleRequest) and "3600 s ahead" in str(error)


def test_an_unknown_reason_falls_back_on_the_status():
    assert type(error_for(404, {"reason": "something_new", "message": "x"})).__name__ == "NotFound"
    assert isinstance(error_for(404, {"reason": "member_not_found", "message": "x"}), MemberNotFound)
    assert isinstance(error_for(500, None), ServiceUnavailable)


def test_an_unreachable_service_queues_and_the_same_sale_recorded_again_is_one_sale(tmp_path, clock):
    client = TillClient(_dead_url(), API_KEY, SECRET, str(tmp_path / "q.db"), 2, clock=clock)
    try:
        first = _sale(client, 1, occurred_at="2026-11-22T10:15:00+08:00")
        again = _sale(client, 1, occurred_at="2026-11-22T10:15:00+08:00")
        assert first.points_pending_delivery and again.points_pending_delivery
        assert client.queue_counts()["pending"] == 1
        with pytest.raises(Exception, match="different body"):
            client.purchase("R-00001", total_minor=1, currency="EUR", occurred_at="2026-11-22T10:15:00+08:00")
    finally:
        client.close()


def test_a_return_of_a_queued_sale_is_sent_after_it_with_its_id(till, stub):
    stub.script = [(503, {})]
    _sale(till, 1)
    pending = till.return_items("RT-1", purchase_external_id="R-00001", amount_minor=500)
    assert pending.points_pending_delivery
    assert till.flush(force=True).delivered == 2
    assert stub.requests[-1][1] == "/api/v1/purchases/pur_1/returns"
    assert stub.requests[-1][2] == {"external_id": "RT-1", "amount_minor": 500}


def test_a_return_of_a_refused_sale_is_refused_too(till, stub):
    stub.script = [(404, {"code": 404, "reason": "member_not_found", "message": "No member."})]
    with pytest.raises(MemberNotFound):
        _sale(till, 1)
    with pytest.raises(Exception, match="not accepted"):
        till.return_items("RT-1", purchase_external_id="R-00001", amount_minor=500)
    assert till.queue()[-1].reason == "purchase_rejected"


def test_another_process_delivering_the_same_queue_waits_its_turn(till, stub, clock, tmp_path):
    stub.script = [(503, {})]
    _sale(till, 1)
    other = TillClient(stub.base, API_KEY, SECRET, str(tmp_path / "queue.db"), 5, clock=clock)
    try:
        assert other.outbox.acquire(60)
        assert till.flush(force=True).delivered == 0
        other.outbox.release()
        assert till.flush(force=True).delivered == 1
    finally:
        other.close()
