"""Partner webhooks end to end: events recorded with their change, signed, delivered to a real HTTP receiver by
the RQ job, retried with backoff, logged and redelivered; a change rolled back sends nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from loyalty.actors import Actor, Role, cli_actor
from loyalty.db import utcnow
from loyalty.members.services import enrol_member
from loyalty.purchases.returns import return_purchase
from loyalty.rewards.usage import use_redemption
from loyalty.webhooks import delivery, jobs
from loyalty.webhooks import services as webhooks
from loyalty.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_rewards import give_points, make_reward, redeem
from tests.factories_tiers import set_tiers
from tests.webhook_receiver import serve, verify


@pytest.fixture()
def settings():
    """Deliveries may go to this machine (the receiver), with retries at once and three attempts in all."""
    saved = delivery.settings()
    delivery.configure(allow_localhost=True, retry_base_seconds=0, max_attempts=3, timeout_seconds=5)
    yield delivery.settings()
    delivery.configure(**saved.__dict__)


@pytest.fixture()
def receiver(settings):
    receiver, server = serve()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture()
def shop(db_session):
    merchant = make_merchant(db_session)
    return merchant.id, make_store(db_session, merchant.id)


def subscribe(session, merchant_id: str, url: str, events=webhooks.EVENT_TYPES) -> tuple[str, str]:
    subscription, secret = webhooks.create_subscription(
        session, merchant_id=merchant_id, url=url, events=list(events), description=None, actor=cli_actor()
    )
    session.commit()
    return subscription.id, secret


def deliveries(session, subscription_id: str) -> list[WebhookDelivery]:
    session.expire_all()
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.id)
        )
    )


def test_a_purchase_reaches_its_merchants_endpoint_signed_and_logged(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscription_id, secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    other_merchant = make_merchant(db_session)
    other_id, _ = subscribe(db_session, other_merchant.id, receiver.url + "/other")
    member = make_member(db_session)

    outcome = buy(db_session, store, member=member, total_minor=4250)
    run_jobs()

    (request,) = receiver.received
    assert request.path == "/loyalty/hooks"
    assert verify(request, secret)
    assert not verify(request, "whsec_someone-else")
    assert request.headers["Content-Type"] == "application/json"
    event = request.json
    assert request.headers["Loyalty-Event-Id"] == event["id"]
    assert request.headers["Loyalty-Event-Type"] == event["type"] == "points.earned"
    assert event["data"] | {"available_at": None, "occurred_at": None} == {
        "member_id": member.id,
        "kind": "earn",
        "points": 42,
        "available_at": None,
        "purchase_id": outcome.receipt["id"],
        "external_id": outcome.receipt["external_id"],
        "merchant_id": merchant_id,
        "store_id": store.id,
        "total_minor": 4250,
        "currency": "EUR",
        "occurred_at": None,
    }
    (logged,) = deliveries(db_session, subscription_id)
    assert request.headers["Loyalty-Delivery-Id"] == logged.id
    assert (logged.status, logged.attempts, logged.response_code, logged.last_error) == ("succeeded", 1, 200, None)
    assert logged.delivered_at is not None and logged.event_id == event["id"]
    assert deliveries(db_session, other_id) == []


def test_a_500_is_retried_until_the_receiver_accepts_it(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscription_id, secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    receiver.answer(500, 503)

    buy(db_session, store, member=make_member(db_session))
    run_jobs()

    assert len(receiver.received) == 3
    assert len({r.headers["Loyalty-Event-Id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    assert all(verify(r, secret) for r in receiver.received)
    (logged,) = deliveries(db_session, subscription_id)
    assert (logged.status, logged.attempts, logged.response_code, logged.last_error) == ("succeeded", 3, 200, None)


def test_a_delivery_that_keeps_failing_is_logged_failed_and_can_be_redelivered(
    db_session, run_jobs, receiver, shop, client
):
    merchant_id, store = shop
    subscription_id, secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    receiver.answer(500, 500, 500)

    buy(db_session, store, member=make_member(db_session))
    run_jobs()

    (failed,) = deliveries(db_session, subscription_id)
    assert (failed.status, failed.attempts, failed.response_code, failed.last_error) == ("failed", 3, 500, "HTTP 500.")
    assert failed.next_attempt_at is None

    again = webhooks.redeliver(db_session, delivery_id=failed.id, actor=cli_actor())
    db_session.commit()
    run_jobs()

    assert len(receiver.received) == 4
    first, redelivered = receiver.received[0], receiver.received[3]
    assert redelivered.headers["Loyalty-Event-Id"] == first.headers["Loyalty-Event-Id"]
    assert redelivered.body == first.body
    assert redelivered.headers["Loyalty-Delivery-Id"] == again.id
    assert verify(redelivered, secret)
    log = deliveries(db_session, subscription_id)
    assert [(d.id, d.status, d.attempts, d.redelivery_of) for d in log] == [
        (failed.id, "failed", 3, None),
        (again.id, "succeeded", 1, failed.id),
    ]


def test_retries_back_off_exponentially(db_session, redis_conn, receiver, shop, settings):
    delivery.configure(retry_base_seconds=30, max_attempts=4)
    merchant_id, store = shop
    subscription_id, _ = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    receiver.answer(500, 500, 500, 500)
    buy(db_session, store, member=make_member(db_session))
    (pending,) = deliveries(db_session, subscription_id)

    waits = []
    for _ in range(4):
        started = utcnow()
        retry = jobs.deliver(pending.id)
        row = deliveries(db_session, subscription_id)[0]
        if retry is None:
            break
        assert retry.intervals == [30, 60, 120]
        waits.append(round((row.next_attempt_at - started).total_seconds()))

    assert waits == [30, 60, 120]
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 4, None)


def test_the_worker_schedules_the_retry_after_the_backoff(app, db_session, redis_conn, receiver, shop, settings):
    from web.worker import LoyaltySimpleWorker

    delivery.configure(retry_base_seconds=30, max_attempts=4)
    merchant_id, store = shop
    subscription_id, _ = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    receiver.answer(500)
    buy(db_session, store, member=make_member(db_session))
    queues = [Queue(name, connection=redis_conn) for name in ("webhooks",)]
    # Two jobs: the outbox message that hands the delivery over, then the first attempt.
    LoyaltySimpleWorker(queues, connection=redis_conn, app=app).work(burst=True)

    (row,) = deliveries(db_session, subscription_id)
    assert (row.status, row.attempts, row.response_code) == ("pending", 1, 500)
    registry = queues[0].scheduled_job_registry
    assert registry.get_job_ids() == [f"webhook-{row.id}"]
    due = registry.get_scheduled_time(f"webhook-{row.id}")
    assert abs((due - row.next_attempt_at).total_seconds()) < 2
    assert 28 <= (due - row.last_attempt_at).total_seconds() <= 32
    assert len(receiver.received) == 1


def test_a_change_that_is_rolled_back_sends_nothing(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscribe(db_session, merchant_id, receiver.url)
    till = Actor(kind="key", name="till", role=Role.TERMINAL, merchant_id=merchant_id, store_id=store.id)

    enrol_member(db_session, email="rolled.back@example.com", phone=None, name="Rolled Back", actor=till)
    db_session.flush()
    assert db_session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    db_session.rollback()
    db_session.commit()

    assert run_jobs() == 0
    assert receiver.received == []
    assert db_session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert db_session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_each_event_goes_to_the_merchants_it_concerns(db_session, shop, receiver):
    """A member enrolled at A buys at B (rising a tier) and returns part there, redeems an operator's reward at B
    and uses it at A, then redeems A's own reward in the portal."""
    a_id, store_a = shop
    merchant_b = make_merchant(db_session)
    store_b = make_store(db_session, merchant_b.id)
    bystander = make_merchant(db_session)
    subscriptions = {
        "A": subscribe(db_session, a_id, receiver.url)[0],
        "B": subscribe(db_session, merchant_b.id, receiver.url)[0],
        "C": subscribe(db_session, bystander.id, receiver.url)[0],
    }
    set_tiers(db_session)
    till_a = Actor(kind="key", name="till A", role=Role.TERMINAL, merchant_id=a_id, store_id=store_a.id)
    till_b = Actor(kind="key", name="till B", role=Role.TERMINAL, merchant_id=merchant_b.id, store_id=store_b.id)

    member = enrol_member(db_session, email="coalition@example.com", phone=None, name="Cleo", actor=till_a)
    db_session.commit()
    sale = buy(db_session, store_b, member=member, total_minor=150_000)
    return_purchase(
        db_session,
        purchase_id=sale.receipt["id"],
        external_id="RET-1",
        items=None,
        amount_minor=10_000,
        fingerprint="RET-1",
        actor=cli_actor(),
    )
    db_session.commit()
    give_points(db_session, member, 500)
    operators = make_reward(db_session, points_cost=100)
    issued = redeem(db_session, member, operators, actor=till_b)
    use_redemption(db_session, code=issued.receipt["code"], actor=till_a)
    db_session.commit()
    own = redeem(db_session, member, make_reward(db_session, points_cost=50, merchant_id=a_id))

    def received(name):
        rows = deliveries(db_session, subscriptions[name])
        return [(d.event_type, webhooks.event_payload(db_session, d.event_id)["data"]) for d in rows]

    a, b = received("A"), received("B")
    assert [kind for kind, _ in a] == ["member.enrolled", "tier.changed", "reward.used", "reward.issued"]
    assert [kind for kind, _ in b] == ["points.earned", "tier.changed", "points.returned", "reward.issued"]
    assert received("C") == []
    assert a[0][1] == {
        "member_id": member.id,
        "card_number": member.card_number,
        "merchant_id": a_id,
        "store_id": store_a.id,
        "tier": "blue",
        "enrolled_at": a[0][1]["enrolled_at"],
    }
    assert (
        a[1][1]
        == b[1][1]
        == {
            "member_id": member.id,
            "from": "blue",
            "to": "silver",
            "direction": "up",
            "qualifying_points": 1500,
            "cause": "purchase",
            "merchant_id": merchant_b.id,
            "purchase_id": sale.receipt["id"],
        }
    )
    assert b[0][1]["points"] == 1500 and b[0][1]["member_id"] == member.id
    assert b[2][1]["points"] == 100 and b[2][1]["purchase_id"] == sale.receipt["id"]
    assert b[3][1]["merchant_id"] == merchant_b.id and b[3][1]["reward_merchant_id"] is None
    assert b[3][1]["redemption_id"] == issued.receipt["id"] and "code" not in b[3][1]
    assert a[2][1]["merchant_id"] == a_id and a[2][1]["redemption_id"] == issued.receipt["id"]
    assert a[3][1]["redemption_id"] == own.receipt["id"] and a[3][1]["merchant_id"] is None


def test_deleting_a_subscription_cancels_what_it_has_not_sent(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscription_id, _ = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    buy(db_session, store, member=make_member(db_session))

    webhooks.delete_subscription(db_session, subscription_id=subscription_id, actor=cli_actor())
    db_session.commit()
    run_jobs()
    buy(db_session, store, member=make_member(db_session))
    run_jobs()

    assert receiver.received == []
    assert [d.status for d in deliveries(db_session, subscription_id)] == ["cancelled"]


def test_a_host_that_resolves_to_this_machine_is_not_called_unless_allowed(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscription_id, _ = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    delivery.configure(allow_localhost=False)

    buy(db_session, store, member=make_member(db_session))
    run_jobs()

    assert receiver.received == []
    (row,) = deliveries(db_session, subscription_id)
    assert (row.status, row.attempts, row.response_code) == ("failed", 3, None)
    assert row.last_error.startswith("Not sent: ")


def test_after_a_rotation_deliveries_carry_both_signatures_until_the_grace_ends(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    subscription_id, old_secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])

    _, new_secret, until = webhooks.rotate_secret(
        db_session, subscription_id=subscription_id, grace_hours=24, actor=cli_actor()
    )
    db_session.commit()
    buy(db_session, store, member=make_member(db_session))
    run_jobs()
    _, newest_secret, _ = webhooks.rotate_secret(
        db_session, subscription_id=subscription_id, grace_hours=0, actor=cli_actor()
    )
    db_session.commit()
    buy(db_session, store, member=make_member(db_session))
    run_jobs()

    during, after = receiver.received
    assert until - utcnow() > timedelta(hours=23)
    assert verify(during, new_secret) and verify(during, old_secret)
    assert during.headers["Loyalty-Signature"].count("v1=") == 2
    assert verify(after, newest_secret)
    assert not verify(after, new_secret) and not verify(after, old_secret)
    assert after.headers["Loyalty-Signature"].count("v1=") == 1


def test_a_stale_signature_is_refused_by_the_receivers_check(db_session, run_jobs, receiver, shop):
    merchant_id, store = shop
    _, secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    buy(db_session, store, member=make_member(db_session))
    run_jobs()
    (request,) = receiver.received
    timestamp = int(request.headers["Loyalty-Signature"].split(",")[0][2:])
    assert abs(time.time() - timestamp) < 60
    assert verify(request, secret)
    assert not verify(request, secret, tolerance=-1)


def test_no_subscription_means_nothing_is_written(db_session, shop):
    _, store = shop
    buy(db_session, store, member=make_member(db_session))
    assert db_session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert db_session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_a_delivery_whose_job_died_mid_attempt_is_sent_again_once_overdue_and_a_queued_one_is_left_alone(
    db_session, redis_conn, run_jobs, receiver, shop
):
    from rq.job import Job, JobStatus

    from loyalty.queue import get_queue
    from loyalty.webhooks import sending

    merchant_id, store = shop
    subscription_id, _secret = subscribe(db_session, merchant_id, receiver.url, ["points.earned"])
    for total in (1000, 2000, 3000):
        buy(db_session, store, member=make_member(db_session), total_minor=total)
    died, waiting, recent = deliveries(db_session, subscription_id)
    queue = get_queue(sending.QUEUE)

    # One job was running when its worker lost Redis: RQ's upkeep has since failed it (its heartbeat lapsed).
    sending.enqueue_delivery(died.id)
    job = Job.fetch(f"webhook-{died.id}", connection=redis_conn)
    queue.remove(job)
    job.set_status(JobStatus.FAILED)
    # Another is merely late, still queued behind others.
    sending.enqueue_delivery(waiting.id)
    for row in (died, waiting):
        row.created_at = utcnow() - jobs.STALLED_AFTER - timedelta(seconds=5)
    db_session.commit()

    assert jobs.requeue_stalled() == 2  # both overdue; the third is not yet
    assert Job.fetch(f"webhook-{died.id}", connection=redis_conn).get_status() == JobStatus.QUEUED
    assert queue.get_job_ids().count(f"webhook-{waiting.id}") == 1  # left as it was, not queued twice
    assert f"webhook-{recent.id}" not in queue.get_job_ids()

    run_jobs()
    sent = [request.headers["Loyalty-Delivery-Id"] for request in receiver.received]
    assert sorted(sent) == sorted([died.id, waiting.id, recent.id])  # each once
    assert {row.status for row in deliveries(db_session, subscription_id)} == {"succeeded"}
