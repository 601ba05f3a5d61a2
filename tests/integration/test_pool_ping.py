"""A pooled connection whose server process ended: replaced before use after idleness, else one failure at most.

``loyalty.db.configure_engine`` pings a connection only when it sat in the pool
longer than ``ping_after_idle`` seconds. These tests end the connection's server
process for real (``pg_terminate_backend``) on the run's PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from loyalty.db import configure_engine


@pytest.fixture()
def pool(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a server process to end is PostgreSQL's; SQLite has no connection to lose")
    made = []

    def make(ping_after_idle: float):
        pooled = create_engine(engine.url, pool_size=1, max_overflow=0)
        configure_engine(pooled, ping_after_idle=ping_after_idle)
        made.append(pooled)
        return pooled

    yield make
    for pooled in made:
        pooled.dispose()


def _backend_pid(pooled) -> int:
    with pooled.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def _terminate(engine, pid: int) -> None:
    with engine.connect() as admin:
        assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    deadline = time.monotonic() + 10
    while True:
        # A transaction of its own for each look: the activity view is a snapshot per transaction.
        with engine.connect() as admin:
            if not admin.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}):
                return
        assert time.monotonic() < deadline, "the backend did not end"
        time.sleep(0.05)


def test_an_idle_connection_whose_server_process_ended_is_replaced_before_the_request_sees_it(pool, engine):
    pooled = pool(ping_after_idle=0.2)
    first = _backend_pid(pooled)
    _terminate(engine, first)
    time.sleep(0.3)  # idle longer than the threshold

    with pooled.connect() as connection:
        assert connection.scalar(text("SELECT 1")) == 1
        assert connection.scalar(text("SELECT pg_backend_pid()")) != first


def test_a_connection_used_moments_ago_is_not_pinged_and_one_failure_empties_the_pool(pool, engine):
    pooled = pool(ping_after_idle=60)
    first = _backend_pid(pooled)
    _terminate(engine, first)

    # Not idle long enough to be pinged: the statement itself finds the connection dead, as a disconnect.
    with pytest.raises(OperationalError) as failure, pooled.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert failure.value.connection_invalidated

    # The next request gets a new connection at once.
    with pooled.connect() as connection:
        assert connection.scalar(text("SELECT 1")) == 1
        assert connection.scalar(text("SELECT pg_backend_pid()")) != first


def test_a_live_idle_connection_is_kept_after_its_ping(pool):
    pooled = pool(ping_after_idle=0.1)
    first = _backend_pid(pooled)
    time.sleep(0.2)
    assert _backend_pid(pooled) == first
