"""PostgreSQL restarted under load (a cluster of the test's own, never the machine's).

While it is down every request is answered 503 in the error envelope, never a 500 and
never a half-written purchase; once it is back the same processes serve again by
themselves (their pools replace the dead connections), the tills' retries are
answered once each, and the ledger invariants hold over every member.
"""

from __future__ import annotations

import time

from sqlalchemy import create_engine, func, select

from tests.faults.servers import private_postgres
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

pytestmark = requires_postgres

MEMBERS = 5
DOWN_SECONDS = 5


def test_requests_fail_with_503_while_postgres_restarts_and_the_service_recovers_by_itself(tmp_path):
    with private_postgres() as postgres, service_environment(tmp_path, "faults_pg") as env:
        env["DATABASE_URL"] = postgres.url
        flask_cli(env, "db", "upgrade")
        admin = flask_cli(env, "keys", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
        base = f"http://127.0.0.1:{free_port()}"
        processes = []
        try:
            processes += [start_web(env, int(base.rsplit(":", 1)[1])), start_worker(env)]
            wait_until_healthy(base, processes)
            setup = set_up_program(base, admin, members=MEMBERS)
            with SalesLoad([base], setup["terminal"], setup["member_ids"], prefix="PG") as load:
                wait_for(lambda: load.count(201) >= 30, 60, "sales recorded before the restart")
                postgres.stop("fast")
                try:
                    stopped_at = len(load.statuses())
                    wait_for(lambda: len(load.statuses()) >= stopped_at + 10, 30, "sales answered while down")
                    status, body = call(base, "GET", "/api/v1/program", key=admin)
                    assert status == 503, body
                    assert body["reason"] == "unavailable" and body["code"] == 503, body
                    status, health = call(base, "GET", "/healthz")
                    assert status == 503 and health["database"] != "ok", health
                    time.sleep(DOWN_SECONDS)
                    refused = load.count(503)
                finally:
                    postgres.start()
                # The same gunicorn and worker processes serve again, without a restart of theirs.
                recovered_from = load.count(201)
                wait_for(lambda: load.count(201) >= recovered_from + 20, 60, "sales recorded again")
            for process in processes:
                assert process.poll() is None
            assert refused >= 10
            # Down or not, an answer is a receipt or a clean 503: never a 500, never a hang.
            assert set(load.statuses()) <= {200, 201, 503}, sorted(set(load.statuses()))
            load.redeliver()
            _check_each_sale_recorded_once(postgres.url, load)

            def welcomes_sent() -> bool:
                status, page = call(base, "GET", "/api/v1/notifications?limit=500", key=admin)
                return status == 200 and all(item["status"] == "sent" for item in page["items"])

            wait_for(welcomes_sent, 60, "the worker delivering again")
            assert check_every_member(postgres.url) == MEMBERS
        finally:
            stop(processes)


def _check_each_sale_recorded_once(database_url: str, load: SalesLoad) -> None:
    from loyalty.purchases.models import Purchase

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            recorded = dict(
                conn.execute(select(Purchase.external_id, func.count()).group_by(Purchase.external_id)).all()
            )
    finally:
        engine.dispose()
    assert recorded == dict.fromkeys(load.answers, 1)
