"""A backlog delivered in batches (POST /purchases/batch): in order, each sale marked from its own answer."""

from __future__ import annotations

import json
import random
import time

import pytest

from pos_plugins.client import Backoff, MemberNotFound, ServiceUnavailable, TillClient
from pos_plugins.client.batch import read_results
from tests.pos.stub import API_KEY, SECRET, StubService
from tests.pos.test_queue import FakeClock, _sale

NOT_FOUND = (404, {"code": 404, "reason": "member_not_found", "message": "No member."})
CONFLICT = (409, {"code": 409, "reason": "idempotency_conflict", "message": "Used with another body."})
DOWN = (500, {"code": 500, "reason": "internal_error", "message": "Something went wrong."})
OK = (201, {})


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def stub(clock):
    with StubService(now=clock, batches=True) as service:
        yield service


@pytest.fixture
def make_till(clock, tmp_path):
    clients = []

    def make(stub: StubService, timeout: float = 5, **kwargs) -> TillClient:
        client = TillClient(
            stub.base,
            API_KEY,
            SECRET,
            str(tmp_path / "queue.db"),
            timeout,
            clock=clock,
            backoff=Backoff(rng=random.Random(7)),
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _queue(till: TillClient, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        assert _sale(till, n, deliver=False).points_pending_delivery


def _statuses(till: TillClient) -> list[tuple[str, str, int | None, str | None]]:
    return [(r.external_id, r.status, r.http_status, r.reason) for r in till.queue()]


def test_a_backlog_goes_in_batches_of_100_in_order_each_sale_marked_with_its_receipt(stub, make_till):
    till = make_till(stub)
    _queue(till, 250)
    result = till.flush(force=True)
    assert (result.delivered, result.rejected, result.pending) == (250, 0, 0)
    assert stub.batch_sizes() == [100, 100, 50]
    assert list(stub.accepted) == [f"R-{n:05d}" for n in range(1, 251)]
    rows = till.queue()
    assert all(r.status == "delivered" and r.http_status == 201 and r.attempts == 1 for r in rows)
    # What the service answered for each sale is kept with it, as for a sale sent alone.
    stored = till.outbox.get("purchase", "R-00007")
    assert json.loads(stored.response) == stub.accepted["R-00007"]


def test_good_and_bad_sales_in_one_batch_are_delivered_and_rejected_each_as_if_sent_alone(stub, make_till):
    till = make_till(stub)
    _queue(till, 5)
    stub.script = [OK, NOT_FOUND, OK, CONFLICT, OK]
    result = till.flush(force=True)
    assert (result.delivered, result.rejected, result.pending) == (3, 2, 0)
    assert stub.batch_sizes() == [5]
    assert _statuses(till) == [
        ("R-00001", "delivered", 201, None),
        ("R-00002", "rejected", 404, "member_not_found"),
        ("R-00003", "delivered", 201, None),
        ("R-00004", "rejected", 409, "idempotency_conflict"),
        ("R-00005", "delivered", 201, None),
    ]
    assert [r.external_id for r in result.rejections] == ["R-00002", "R-00004"]
    # The refusal is kept as the service gave it: the same sale recorded again raises it, as for one sent alone.
    with pytest.raises(MemberNotFound):
        _sale(till, 2)


def test_a_sale_that_must_wait_stops_the_batch_there_and_those_behind_it_keep_their_place(stub, make_till, clock):
    till = make_till(stub)
    _queue(till, 5)
    stub.script = [OK, OK, DOWN]
    result = till.flush(force=True)
    assert (result.delivered, result.pending) == (2, 3)
    assert isinstance(result.error, ServiceUnavailable)
    waiting = [r for r in till.queue() if r.status == "pending"]
    assert [(r.external_id, r.attempts, r.reason) for r in waiting] == [
        ("R-00003", 1, "internal_error"),
        ("R-00004", 0, None),
        ("R-00005", 0, None),
    ]
    assert result.next_attempt_at == waiting[0].next_attempt_at > clock.now
    # Nothing moves before the wait is over, then the rest goes in one batch, in order.
    assert till.flush().delivered == 0
    clock.now = waiting[0].next_attempt_at
    assert till.flush().delivered == 3
    assert stub.batch_sizes() == [5, 3]
    assert list(stub.accepted) == [f"R-{n:05d}" for n in range(1, 6)]


def test_a_batch_sent_again_after_its_answer_was_lost_is_replayed_never_recorded_twice(stub, make_till):
    till = make_till(stub)
    _queue(till, 4)
    assert till.flush(force=True).delivered == 4
    # The service recorded them, but the till never saw the answer: they are still pending on the till.
    till.outbox._update("UPDATE requests SET status = 'pending'", ())
    assert till.flush(force=True).delivered == 4
    assert len(stub.accepted) == 4 and stub.batch_sizes() == [4, 4]
    assert {r.http_status for r in till.queue()} == {200}  # replayed by the service


def test_a_batch_left_unanswered_makes_the_next_ones_smaller_until_answers_come_back(stub, make_till):
    till = make_till(stub, timeout=0.3)
    _queue(till, 20)
    stub.delay = 1.0  # longer than the till waits: the service records the batch, the till never hears
    unanswered = till.flush(force=True)
    assert unanswered.delivered == 0 and isinstance(unanswered.error, ServiceUnavailable)
    deadline = time.monotonic() + 10
    while len(stub.accepted) < 20:  # the service gets to it late
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stub.delay = 0
    assert till.flush(force=True).delivered == 20
    # Half as many next, then twice as many again once answered; the twenty once each.
    assert stub.batch_sizes() == [20, 10, 10]
    assert list(stub.accepted) == [f"R-{n:05d}" for n in range(1, 21)]
    assert {r.http_status for r in till.queue()} == {200}  # all recorded by the late batch: replayed


@pytest.mark.parametrize("refusal", [404, 405])
def test_an_older_service_without_batches_gets_the_sales_one_by_one_and_is_asked_again_an_hour_later(
    make_till, clock, refusal
):
    with StubService(now=clock, batches=False) as old:
        old.batch_refusal = refusal
        till = make_till(old)
        _queue(till, 3)
        stub_result = till.flush(force=True)
        assert (stub_result.delivered, old.batch_refusals) == (3, 1)
        assert old.posted_external_ids() == ["R-00001", "R-00002", "R-00003"]
        _queue(till, 3, start=4)
        assert till.flush(force=True).delivered == 3
        assert old.batch_refusals == 1  # not asked again so soon
        clock.now += 3600
        old.batches = True  # upgraded meanwhile
        _queue(till, 3, start=7)
        assert till.flush(force=True).delivered == 3
        assert old.batch_sizes() == [3]
        assert list(old.accepted) == [f"R-{n:05d}" for n in range(1, 10)]


def test_a_refusal_of_a_sale_sent_alone_after_the_fallback_is_final_as_before(make_till, clock):
    with StubService(now=clock, batches=False) as old:
        till = make_till(old)
        _queue(till, 3)
        old.script = [NOT_FOUND]
        result = till.flush(force=True)
        assert (result.delivered, result.rejected) == (2, 1)
        assert [s[1] for s in _statuses(till)] == ["rejected", "delivered", "delivered"]


def test_a_return_is_sent_on_its_own_between_the_batches_around_it(stub, make_till):
    till = make_till(stub)
    _queue(till, 2)
    till.return_items("RT-1", purchase_external_id="R-00002", amount_minor=500, deliver=False)
    _queue(till, 2, start=3)
    assert till.flush(force=True).delivered == 5
    assert [path.rsplit("/", 1)[-1] for _m, path, _b in stub.requests] == ["batch", "returns", "batch"]
    assert stub.requests[1][1] == "/api/v1/purchases/pur_2/returns"
    assert stub.posted_external_ids() == ["R-00001", "R-00002", "RT-1", "R-00003", "R-00004"]


def test_batch_size_1_sends_every_sale_alone(stub, make_till):
    till = make_till(stub, batch_size=1)
    _queue(till, 3)
    assert till.flush(force=True).delivered == 3
    assert stub.batch_sizes() == [] and stub.posted_external_ids() == ["R-00001", "R-00002", "R-00003"]


def test_a_flush_with_a_limit_sends_no_more_than_the_limit(stub, make_till):
    till = make_till(stub)
    _queue(till, 10)
    assert till.flush(force=True, limit=4).delivered == 4
    assert stub.batch_sizes() == [4]


@pytest.mark.parametrize(
    "answer",
    [
        {"results": [{"external_id": "A", "status": 201, "receipt": {}}]},  # one result for two sales
        {"results": [{"external_id": "B", "status": 201, "receipt": {}}, {"external_id": "A", "status": 201}]},
        {"results": [{"external_id": "A", "status": 201}, {"external_id": "B", "status": 201, "receipt": {}}]},
        {"results": [{"external_id": "A", "status": "201", "receipt": {}}, {"external_id": "B", "status": 404}]},
        {"items": []},
        b"<html>",
    ],
    ids=["too-few", "out-of-order", "no-receipt", "status-not-int", "no-results", "not-json"],
)
def test_an_answer_that_does_not_match_the_sales_sent_is_not_read(answer):
    assert read_results(answer, ["A", "B"]) is None
