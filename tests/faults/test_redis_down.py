"""Redis stopped for a minute under load (a server of the test's own, never the machine's).

Purchases and enrolments keep being answered 201: the background work they cause
(partner webhooks for each sale, welcome messages) waits in the outbox table. When
Redis is back (with its append-only file, as deployed), the workers' sweep hands the
outbox to it, and every event is delivered, once.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import create_engine, func, select

from tests.faults.servers import private_redis
from tests.faults.support import SalesLoad, check_every_member, requires_postgres, set_up_program, wait_for
from tests.service import (
    call,
    flask_cli,
    free_port,
    service_environment,
    start_web,
    start_worker,
    stop,
    wait_until_healthy,
)
from tests.webhook_receiver import serve

# Waits of minutes by design (a heartbeat to lapse, a minute without Redis), each bounded.
pytestmark = [requires_postgres, pytest.mark.timeout(600)]


def down_seconds() -> int:
    """60, as the issue asks; ``FAULTS_REDIS_DOWN_SECONDS`` may shorten it on a laptop, never under CI."""
    if os.environ.get("CI", "").strip().lower() == "true":
        return 60
    return int(os.environ.get("FAULTS_REDIS_DOWN_SECONDS", "60"))


def _pending(database_url: str) -> int:
    from loyalty.outbox.models import OutboxMessage

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None)))
    finally:
        engine.dispose()


def _pending_jobs(database_url: str, redis_url: str) -> dict[str, str]:
    """The outbox messages not done, with the status of their rq job (for a failure's message)."""
    from redis import Redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from loyalty.outbox.models import OutboxMessage

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = conn.scalars(select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None))).all()
    finally:
        engine.dispose()
    connection = Redis.from_url(redis_url)
    statuses = {}
    for message_id in ids:
        try:
            statuses[message_id] = str(Job.fetch(f"outbox-{message_id}", connection=connection).get_status())
        except NoSuchJobError:
            statuses[message_id] = "no job"
    return statuses


def test_purchases_succeed_while_redis_is_down_and_the_outbox_delivers_once_it_is_back(tmp_path):
    receiver, receiver_server = serve()
    with private_redis() as redis_server, service_environment(tmp_path, "faults_redis") as env:
        env.update(REDIS_URL=redis_server.url, WEBHOOK_ALLOW_LOCALHOST="true")
        database_url = env["DATABASE_URL"]
        flask_cli(env, "db", "upgrade")
        admin = flask_cli(env, "keys", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
        base = f"http://127.0.0.1:{free_port()}"
        processes = []
        try:
            processes += [start_web(env, int(base.rsplit(":", 1)[1])), start_worker(env)]
            wait_until_healthy(base, processes)
            setup = set_up_program(base, admin, members=3)
            status, hook = call(
                base,
                "POST",
                f"/api/v1/merchants/{setup['merchant_id']}/webhooks",
                key=setup["merchant_key"],
                body={"url": receiver.url, "events": ["points.earned"]},
            )
            assert status == 201, hook
            with SalesLoad([base], setup["terminal"], setup["member_ids"], prefix="RD", threads=2, pause=0.5) as load:
                wait_for(lambda: load.count(201) >= 20, 60, "sales recorded before Redis stops")
                redis_server.stop()
                try:
                    before = load.count(201)
                    status, health = call(base, "GET", "/healthz")
                    assert status == 503 and health["redis"] != "ok", health
                    # Members enrolled meanwhile: their welcome messages wait in the outbox too.
                    for n in range(3):
                        status, member = call(
                            base, "POST", "/api/v1/members", key=admin, body={"email": f"during{n}@example.com"}
                        )
                        assert status == 201, member
                    wait_for(lambda: load.count(201) >= before + 20, 60, "sales recorded while Redis is down")
                    # The rest of the minute, under load.
                    time.sleep(max(0, down_seconds() - 5))
                    during = load.count(201) - before
                    held = _pending(database_url)
                finally:
                    redis_server.start()
                after = load.count(201)
                wait_for(lambda: load.count(201) >= after + 10, 60, "sales recorded after Redis is back")
            assert set(load.statuses()) <= {200, 201}, sorted(set(load.statuses()))
            assert during >= 20 and held >= during  # a webhook event for each sale, at least
            sales = {eid for eid, answers in load.answers.items() if 201 in answers}

            # Back: the sweep hands the outbox to the new Redis and the worker runs it all. A job the worker was
            # running when Redis went away is retried once its heartbeat lapses and an upkeep finds it; one it
            # had just taken is sent again by the sweep after LOST_AFTER (docs/faults.md): minutes, not seconds.
            try:
                wait_for(lambda: _pending(database_url) == 0, 300, "the outbox relayed and run")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; still pending: {_pending_jobs(database_url, redis_server.url)}") from exc

            def delivered() -> set:
                return {r.json["data"]["external_id"] for r in list(receiver.received)}

            # A delivery whose job was running when Redis went away is sent again once RQ's upkeep has failed
            # that job (its heartbeat lapsed) and requeue_stalled finds it overdue: minutes too.
            wait_for(lambda: delivered() == sales, 300, "a webhook for every sale")
            event_ids = [r.json["id"] for r in receiver.received]
            assert len(event_ids) == len(set(event_ids)) == len(sales)  # each event once

            status, page = call(base, "GET", "/api/v1/notifications?limit=500", key=admin)
            assert status == 200 and len(page["items"]) == 6, page
            assert {item["status"] for item in page["items"]} == {"sent"}
            assert check_every_member(database_url) == 6
        finally:
            stop(processes)
            receiver_server.shutdown()
