"""Commits that skip the wait for the disk, made durable together at the end (loyalty.db.durable_at_end)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from loyalty.db import durable_at_end


def _synchronous_commit(session) -> str:
    return session.scalar(text("SHOW synchronous_commit"))


def test_only_the_transactions_that_ask_skip_the_wait_and_the_connection_keeps_nothing_of_it(committed, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; SQLite commits as usual inside the block")
    with committed() as session:
        with durable_at_end(session) as no_wait:
            no_wait()
            assert _synchronous_commit(session) == "off"
            session.commit()
            assert _synchronous_commit(session) == "on"  # the next transaction waits unless it asks too
            session.rollback()
            no_wait()
            assert _synchronous_commit(session) == "off"
            session.commit()
        # The block ended with a commit that waited for the disk.
        assert not session.in_transaction()
    # No connection of the pool was left without the wait.
    with engine.connect() as connection:
        assert connection.scalar(text("SHOW synchronous_commit")) == "on"


def test_what_follows_no_wait_is_one_transaction_that_a_rollback_undoes_and_a_commit_keeps(committed, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; SQLite commits as usual inside the block")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS durable_at_end_probe (n integer)"))
        connection.execute(text("TRUNCATE durable_at_end_probe"))
    try:
        with committed() as session, durable_at_end(session) as no_wait:
            no_wait()
            session.execute(text("INSERT INTO durable_at_end_probe VALUES (1)"))
            assert _synchronous_commit(session) == "off"
            session.rollback()
            no_wait()
            session.execute(text("INSERT INTO durable_at_end_probe VALUES (2)"))
            session.commit()
        with engine.connect() as connection:
            assert connection.scalars(text("SELECT n FROM durable_at_end_probe")).all() == [2]
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS durable_at_end_probe"))
