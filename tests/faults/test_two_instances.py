"""Two web instances and two workers on different ports, sharing one database and one Redis.

Every sale, return and redemption is sent to both instances at the same moment, as a till
that retries through a load balancer would: each takes effect once, whichever instance
answers first, and the other instance answers with the first one's receipt.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, func, select

from tests.faults.support import (
    attempt,
    check_every_member,
    purchase,
    requires_postgres,
    sale,
    set_up_program,
    wait_for,
)
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

SALES = 60
MEMBERS = 6


def test_two_web_instances_and_two_workers_apply_each_request_once(tmp_path):
    with service_environment(tmp_path, "faults_two") as env:
        flask_cli(env, "db", "upgrade")
        admin = flask_cli(env, "keys", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
        bases = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
        processes = []
        try:
            processes += [start_web(env, int(base.rsplit(":", 1)[1])) for base in bases]
            processes += [start_worker(env), start_worker(env, "--no-cron")]
            for base in bases:
                wait_until_healthy(base, processes)
            _exercise(bases, admin, env["DATABASE_URL"])
        finally:
            stop(processes)


def _both(bases: list[str], send) -> list[tuple[int, object]]:
    """``send(base)`` on both instances at once."""
    with ThreadPoolExecutor(len(bases)) as pair:
        return list(pair.map(send, bases))


def _exercise(bases: list[str], admin: str, database_url: str) -> None:
    a, _ = bases
    setup = set_up_program(a, admin, members=MEMBERS)
    terminal, members = setup["terminal"], setup["member_ids"]
    signed = {"key": terminal["api_key"], "signing_secret": terminal["signing_secret"]}

    with ThreadPoolExecutor(8) as pool:
        # Each sale to both instances at once: one records it (201), the other replays it (200).
        sales = {}
        for n in range(SALES):
            body = sale(members[n % MEMBERS], n)
            external_id = f"TWO-{n:04d}"
            sales[external_id] = pool.submit(
                _both, bases, lambda base, e=external_id, b=body: purchase(base, terminal, e, b)
            )
        receipts = {}
        for external_id, future in sales.items():
            answers = future.result()
            assert sorted(status for status, _ in answers) == [200, 201], (external_id, answers)
            first, second = (body for _, body in answers)
            assert first == second  # the identical receipt, from either instance
            receipts[external_id] = first

        # A return of every third sale, to both instances at once: taken once.
        returns = {}
        for n, (external_id, receipt) in enumerate(receipts.items()):
            if n % 3:
                continue
            returns[external_id] = pool.submit(
                _both,
                bases,
                lambda base, r=receipt, n=n: attempt(
                    base,
                    "POST",
                    f"/api/v1/purchases/{r['id']}/returns",
                    body={"external_id": f"TWO-RET-{n:04d}", "amount_minor": 500},
                    **signed,
                ),
            )
        for external_id, future in returns.items():
            answers = future.result()
            assert sorted(status for status, _ in answers) == [200, 201], (external_id, answers)
            assert answers[0][1]["points_reversed"] == answers[1][1]["points_reversed"] == 5

        # Redemptions asking for more than a member has, each key sent to both instances at once:
        # each key takes its points once or is refused on both, and no balance goes below zero.
        for member_id in members:
            status, member = call(a, "GET", f"/api/v1/members/{member_id}", key=admin)
            assert status == 200, member
            available = member["balance"]["available"]
            body = {"member_id": member_id, "points": available // 3}
            asks = [
                pool.submit(
                    _both,
                    bases,
                    lambda base, b=dict(body, idempotency_key=f"{member_id}-R{k}"): attempt(
                        base, "POST", "/api/v1/redemptions", body=b, **signed
                    ),
                )
                for k in range(5)
            ]
            granted = 0
            for future in asks:
                answers = future.result()
                statuses = sorted(status for status, _ in answers)
                assert statuses in ([200, 201], [422, 422]), answers
                if statuses == [422, 422]:
                    assert {body["reason"] for _, body in answers} == {"insufficient_points"}
                granted += statuses == [200, 201]
            assert granted == 3
            status, member = call(bases[1], "GET", f"/api/v1/members/{member_id}", key=admin)
            assert member["balance"]["available"] == available - 3 * (available // 3) >= 0

    # The background work (welcome messages) is done by the workers, once each.
    def all_sent() -> bool:
        status, page = call(a, "GET", "/api/v1/notifications?limit=500", key=admin)
        assert status == 200, page
        return len(page["items"]) == MEMBERS and all(item["status"] == "sent" for item in page["items"])

    wait_for(all_sent, 60, "every welcome notification sent")

    from loyalty.purchases.models import Purchase

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Purchase)) == SALES
    finally:
        engine.dispose()
    assert check_every_member(database_url) == MEMBERS
