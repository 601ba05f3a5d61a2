"""Fresh, empty databases for tests that need their own: on the run's PostgreSQL
when ``TEST_DATABASE_URL`` is set, else a new SQLite file.

The per-worker database of ``tests/conftest.py`` is shared by every test of a
worker and wrapped in a rolled-back transaction; a test that migrates a schema
up and down, or a server thread that commits for real, needs one of these.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _server_url():
    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if base.startswith(prefix):
            base = "postgresql+psycopg://" + base[len(prefix) :]
    return make_url(base)


@contextmanager
def fresh_database(purpose: str, directory: Path) -> Iterator[str]:
    """An empty database named for ``purpose`` and this xdist worker; its URL.

    Dropped afterwards on PostgreSQL; the SQLite file stays in ``directory``
    (pytest's temporary folder) for a look after a failure.
    """
    server = _server_url()
    if server is None:
        path = directory / f"{purpose}.db"
        for leftover in directory.glob(f"{purpose}.db*"):
            leftover.unlink()
        yield f"sqlite:///{path}"
        return
    name = f"loyalty_{purpose}_{_worker_id()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
