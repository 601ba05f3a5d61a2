"""A worker killed with ``kill -9`` in the middle of a job.

The job is a campaign's delivery batch: in one transaction it locks the batch's members in
id order and gives each the campaign's bonus points. The test holds the lock of the last
member, so the batch stops there, part way, with its transaction open and the earlier
members locked; then the worker (its main process, work horse and schedules) is killed
with SIGKILL, as a machine lost or an out-of-memory kill would. Nothing of the batch was
committed; a new worker retries the abandoned job once its heartbeat lapses (RQ's upkeep,
every minute), and every member gets the bonus exactly once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.faults.support import check_every_member, purchase, requires_postgres, sale, set_up_program, wait_for
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

# Waits of minutes by design (a heartbeat to lapse, a minute without Redis), each bounded.
pytestmark = [requires_postgres, pytest.mark.timeout(600)]

MEMBERS = 6
BONUS = 50


def test_a_job_killed_mid_way_is_retried_and_nothing_is_lost_or_done_twice(tmp_path):
    from loyalty.ledger.models import LedgerEntry
    from loyalty.members.models import Member
    from loyalty.outbox.models import OutboxMessage

    with service_environment(tmp_path, "faults_kill") as env:
        database_url = env["DATABASE_URL"]
        flask_cli(env, "db", "upgrade")
        admin = flask_cli(env, "keys", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
        base = f"http://127.0.0.1:{free_port()}"
        web, worker = start_web(env, int(base.rsplit(":", 1)[1])), start_worker(env)
        processes = [web, worker]
        engine = create_engine(database_url)
        try:
            wait_until_healthy(base, processes)
            setup = set_up_program(base, admin, members=MEMBERS)
            for n, member_id in enumerate(setup["member_ids"]):
                status, body = purchase(base, setup["terminal"], f"K-{n}", sale(member_id, n))
                assert status == 201, body

            status, campaign = call(
                base,
                "POST",
                "/api/v1/campaigns",
                key=admin,
                body={
                    "name": "Thank you",
                    "audience": {},
                    "offer": {"type": "bonus", "points": BONUS},
                    "control_share_pct": 0,
                    "budget_points": 100000,
                    "measure_days": 30,
                    "channels": [],
                    "message": {"en": {"subject": "Thank you", "body": "Points for you."}},
                },
            )
            assert status == 201, campaign
            actor = f"campaign {campaign['id']}"

            with engine.connect() as holder:
                with engine.connect() as conn:
                    last = conn.scalar(select(func.max(Member.id)))
                # The batch will wait for this lock, part way through its members.
                holder.execute(select(Member.id).where(Member.id == last).with_for_update())
                status, body = call(base, "POST", f"/api/v1/campaigns/{campaign['id']}/launch", key=admin)
                assert status in (200, 201, 202), body

                def batch_waiting() -> bool:
                    with engine.connect() as conn:
                        return bool(
                            conn.scalar(
                                text(
                                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                                )
                            )
                        )

                wait_for(batch_waiting, 60, "the delivery batch waiting on the member's lock")
                # rq runs each job in a work horse of its own process group: kill it with the rest.
                horses = _children(worker.pid)
                assert horses, "no work horse running the batch"
                for pid in horses:
                    os.kill(pid, signal.SIGKILL)
                stop([worker], sig=signal.SIGKILL)
                processes.remove(worker)
                holder.rollback()

            with engine.connect() as conn:
                assert conn.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None))
                ), "the killed batch's message should still be pending"
                given = conn.scalar(
                    select(func.count()).select_from(LedgerEntry).where(LedgerEntry.actor_name == actor)
                )
                assert given == 0  # the killed batch's transaction left nothing behind

            processes.append(start_worker(env))

            def delivered() -> bool:
                with engine.connect() as conn:
                    pending = conn.scalar(
                        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None))
                    )
                    return pending == 0 and conn.scalar(
                        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.actor_name == actor)
                    )

            # The heartbeat of the killed job lapses after 60 to 90 s; the next upkeep retries it.
            wait_for(delivered, 240, "the abandoned batch retried", every=2)
            with engine.connect() as conn:
                per_member = dict(
                    conn.execute(
                        select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
                        .where(LedgerEntry.actor_name == actor)
                        .group_by(LedgerEntry.member_id)
                    ).all()
                )
            assert per_member == dict.fromkeys(setup["member_ids"], BONUS)
            assert check_every_member(database_url) == MEMBERS
        finally:
            engine.dispose()
            stop(processes)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
