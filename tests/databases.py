"""The test run's databases on PostgreSQL (when ``TEST_DATABASE_URL`` is set), named
for the run and the xdist worker so that runs side by side on one server never
meet, and fresh, empty databases for tests that need their own (a new SQLite
file without PostgreSQL).

The per-worker database of ``tests/conftest.py`` is shared by every test of a
worker and wrapped in a rolled-back transaction; a test that migrates a schema
up and down, or a server thread that commits for real, needs one of these.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

# Without xdist a run is this one process.
_THIS_PROCESS_RUN = uuid.uuid4().hex[:12]


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _run_id() -> str:
    """The same for every worker of one run, different for another run."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12] or _THIS_PROCESS_RUN


def database_name(purpose: str) -> str:
    """``loyalty_<purpose>_<run>_<worker>``: well within PostgreSQL's 63 characters."""
    return f"loyalty_{purpose}_{_run_id()}_{_worker_id()}"


def server_url() -> URL | None:
    """The run's PostgreSQL server, with the psycopg 3 driver; None on SQLite."""
    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if base.startswith(prefix):
            base = "postgresql+psycopg://" + base[len(prefix) :]
    return make_url(base)


def _admin(server: URL, *statements: str) -> None:
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()


def create_database(server: URL, name: str) -> str:
    """An empty database ``name`` on ``server`` (dropped first if a crashed run left it); its URL."""
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(server: URL, name: str) -> None:
    """Drop ``name``, ending any connection still open to it."""
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(purpose: str, directory: Path) -> Iterator[str]:
    """An empty database named for ``purpose``, this run and this xdist worker; its URL.

    Dropped afterwards on PostgreSQL; the SQLite file stays in ``directory``
    (pytest's temporary folder) for a look after a failure.
    """
    server = server_url()
    if server is None:
        path = directory / f"{purpose}.db"
        for leftover in directory.glob(f"{purpose}.db*"):
            leftover.unlink()
        yield f"sqlite:///{path}"
        return
    name = database_name(purpose)
    url = create_database(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


# Redis has 16 numbered databases and no names: a test run leases the ones it
# uses (1 to 15) with a key in database 0, so that runs side by side on one
# Redis never flush or work off each other's queues.
_LEASE_KEY = "loyalty-tests:redis-db:{}"
_LEASE_SECONDS = 4 * 3600  # longer than any run; a run that is killed frees its databases by then
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@contextmanager
def redis_database(base_url: str) -> Iterator[str]:
    """The URL of a Redis database (1 to 15) of ``base_url``'s server that no other test run holds."""
    import redis

    server = base_url.rsplit("/", 1)[0] if base_url.count("/") > 2 else base_url.rstrip("/")
    leases = redis.Redis.from_url(f"{server}/0")
    token = f"{_run_id()}:{_worker_id()}:{uuid.uuid4().hex[:8]}"
    for number in range(1, 16):
        if leases.set(_LEASE_KEY.format(number), token, nx=True, ex=_LEASE_SECONDS):
            break
    else:
        raise RuntimeError(f"all 15 Redis databases of {server} are held by other test runs")
    url = f"{server}/{number}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        leases.eval(_RELEASE, 1, _LEASE_KEY.format(number), token)
        leases.close()
