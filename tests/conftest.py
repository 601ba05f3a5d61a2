"""Test fixtures.

The suite runs against the database and Redis of the run: SQLite and an
embedded Redis by default, PostgreSQL and Redis where ``TEST_DATABASE_URL`` and
``TEST_REDIS_URL`` point. Each xdist worker gets its own database, migrated
once with the real migrations; each test runs inside a transaction that is
rolled back (the app's commits become savepoints), and sees an empty Redis db.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.databases import fresh_database, redis_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp(f"instance-{_worker_id()}")


@pytest.fixture(scope="session")
def database_url(instance_path) -> Iterator[str]:
    # Named for this run and worker on PostgreSQL, and dropped at the end (by force:
    # the app's pooled connections are still open then).
    with fresh_database("test", instance_path) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    if not TEST_REDIS_URL:
        yield None  # the embedded server
        return
    # A database of its own for this worker, leased so that another run never shares it.
    with redis_database(TEST_REDIS_URL) as url:
        yield url


@pytest.fixture(scope="session")
def app(instance_path, database_url, redis_url):
    os.environ["LOYALTY_INSTANCE_PATH"] = str(instance_path)
    os.environ["DATABASE_URL"] = database_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "test-secret-key")
    from flask_migrate import upgrade

    from wsgi import create_app

    app = create_app({"TESTING": True})
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
    return app


@pytest.fixture(scope="session")
def engine(app):
    from web.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture()
def db_session(app, engine):
    """The app's session, joined to a transaction that is rolled back after the test."""
    from web.extensions import db

    connection = engine.connect()
    transaction = connection.begin()
    original = db.session
    db.session = scoped_session(
        sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    )
    try:
        yield db.session
    finally:
        db.session.remove()
        db.session = original
        transaction.rollback()
        connection.close()


@pytest.fixture()
def redis_conn(app):
    from loyalty.queue import get_redis

    connection = get_redis()
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture()
def client(app, db_session, redis_conn):
    return app.test_client()


@pytest.fixture()
def run_jobs(app, db_session, redis_conn):
    """Run every queued job now, in this process, as a worker would; return how many ran.

    A job that fails makes the test fail with the job's own traceback.
    """
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from loyalty.queue import QUEUES
    from web.worker import LoyaltySimpleWorker

    def run() -> int:
        queues = [Queue(name, connection=redis_conn) for name in QUEUES]
        ran = 0
        while waiting := sum(q.count for q in queues):
            LoyaltySimpleWorker(queues, connection=redis_conn, app=app).work(burst=True)
            ran += waiting
        for q in queues:
            registry = FailedJobRegistry(queue=q)
            for job_id in registry.get_job_ids():
                job = q.fetch_job(job_id)
                raise AssertionError(f"job {job_id} failed:\n{job.latest_result().exc_string}")
        return ran

    return run


@pytest.fixture()
def committed(app, engine, redis_conn):
    """Sessions that really commit, on connections of their own (for races between transactions).

    Yields a session factory; every table is emptied afterwards, so the next
    test starts from the migrated, empty database as usual.
    """
    from sqlalchemy.orm import sessionmaker

    from loyalty.db import Base

    factory = sessionmaker(bind=engine, expire_on_commit=False)
    yield factory
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
