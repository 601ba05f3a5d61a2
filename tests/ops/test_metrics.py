"""``GET /metrics``: requests by URL rule and status, the stored business figures, the
outbox and the queues, for Prometheus; open to this machine or to the bearer of METRICS_TOKEN."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from loyalty.outbox.services import pending_count, relay_pending
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till
from tests.factories_purchases import buy
from tests.factories_rewards import give_points, make_reward, redeem


@pytest.fixture(autouse=True)
def _fresh_figures(app, monkeypatch):
    # Each scrape reads the database afresh (no cache between the scrapes of one test).
    monkeypatch.setitem(app.config, "METRICS_CACHE_SECONDS", 0)
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_url_rule_and_status_never_by_raw_path(client, db_session):
    admin = make_key(db_session, "admin")
    before = scrape(client)
    labels = {"method": "GET", "endpoint": "/api/v1/members/<member_id>", "status": "404"}
    for _ in range(3):
        assert client.get("/api/v1/members/mbr_nobody_42", headers=bearer(admin)).status_code == 404
    after = scrape(client)

    assert (
        value(after, "loyalty_http_requests_total", **labels) - value(before, "loyalty_http_requests_total", **labels)
        == 3
    )
    assert (
        value(after, "loyalty_http_request_duration_seconds_count", **labels)
        - value(before, "loyalty_http_request_duration_seconds_count", **labels)
        == 3
    )
    assert "mbr_nobody_42" not in client.get("/metrics").get_data(as_text=True)

    client.get("/no/such/page")
    text = client.get("/metrics").get_data(as_text=True)
    assert "/no/such/page" not in text
    assert 'endpoint="<unmatched>"' in text


def test_purchases_and_points_issued_and_redeemed_are_the_stored_totals(client, db_session):
    _merchant, store, *_ = make_till(db_session)
    member = make_member(db_session)
    before = scrape(client)

    first = buy(db_session, store, member=member, total_minor=5000)
    second = buy(db_session, store, member=member, total_minor=2500)
    buy(db_session, store, total_minor=1000)  # anonymous: a purchase, no points
    give_points(db_session, member, 500)
    reward = make_reward(db_session, points_cost=300)
    redeem(db_session, member, reward)
    after = scrape(client)

    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    issued = first.receipt["points_awarded"] + second.receipt["points_awarded"]
    assert issued > 0
    assert grew("loyalty_purchases_total") == 3
    assert grew("loyalty_points_issued_total") == issued
    assert grew("loyalty_points_redeemed_total") == 300
    assert grew("loyalty_ledger_points_total", kind="adjust", direction="credit") == 500
    assert grew("loyalty_ledger_points_total", kind="redeem", direction="debit") == 300
    assert value(after, "loyalty_database_figures_up") == 1


def test_outbox_depth_and_queue_depths_follow_the_background_work(client, db_session, run_jobs):
    admin = make_key(db_session, "admin")
    assert client.post("/api/v1/members", json={"email": "depth@example.com"}, headers=bearer(admin)).status_code == 201
    pending = pending_count(db_session)
    assert pending > 0  # the welcome message, waiting for its job

    samples = scrape(client)
    assert value(samples, "loyalty_outbox_pending") == pending
    assert value(samples, "loyalty_outbox_oldest_pending_age_seconds") >= 0
    assert value(samples, "loyalty_redis_figures_up") == 1

    relay_pending(db_session, older_than=timedelta(0))
    queued = scrape(client)
    waiting = sum(value(queued, "loyalty_rq_queue_depth", queue=q) for q in ("default", "notifications", "webhooks"))
    assert waiting == pending
    assert value(queued, "loyalty_rq_jobs", queue="notifications", state="queued") == value(
        queued, "loyalty_rq_queue_depth", queue="notifications"
    )

    run_jobs()
    done = scrape(client)
    assert value(done, "loyalty_outbox_pending") == 0
    assert sum(value(done, "loyalty_rq_queue_depth", queue=q) for q in ("default", "notifications", "webhooks")) == 0


def test_failed_jobs_are_counted_per_queue(app, client, db_session, redis_conn):
    from web.worker import LoyaltySimpleWorker

    queue = Queue("webhooks", connection=redis_conn)
    queue.enqueue("loyalty.no_such_module.no_such_job")
    LoyaltySimpleWorker([queue], connection=redis_conn, app=app).work(burst=True)

    samples = scrape(client)
    assert value(samples, "loyalty_rq_failed_jobs", queue="webhooks") == 1
    assert value(samples, "loyalty_rq_failed_jobs", queue="default") == 0


def test_metrics_are_served_to_this_machine_only_without_a_token(client, db_session):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert refused.status_code == 403
    assert refused.json["reason"] == "forbidden"
    assert b"loyalty_" not in refused.data


def test_with_a_token_metrics_need_it_from_anywhere(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-token-9f2c")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-token-9f2c"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json["reason"] == "unauthenticated"
    allowed = client.get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-9f2c"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert allowed.status_code == 200
    assert re.search(rb"^loyalty_purchases_total ", allowed.data, re.M)
