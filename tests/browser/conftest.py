"""Fixtures for tests in a real browser: Debian's chromium driven by playwright.

``live_server`` serves the application over HTTP from a thread of the test
process. It is its own application instance on its own database (a fresh
SQLite file, or a fresh PostgreSQL database under ``TEST_DATABASE_URL``),
migrated once per xdist worker, and its requests commit for real: the
rolled-back ``db_session`` of ``tests/conftest.py`` cannot be seen from another
thread's connection. So browser tests do not use ``db_session`` or ``client``
(while they are active, the app's session is bound to the test's transaction,
the server thread included). They set up data through the HTTP API, or with
``live_server.unit_of_work()``, which commits to the live server's database.
Data stays for the rest of the session: use unique names.

The live application shares the test run's Redis (the embedded server, or
``TEST_REDIS_URL``): the Redis connection is configured once per process.

Where chromium or playwright is missing the tests are skipped with the
reason; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.databases import fresh_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    # The live server also answers as http://loyalty.test:PORT, a name that is
    # not localhost, as users reach the service (pages treat localhost specially).
    "--host-resolver-rules=MAP loyalty.test 127.0.0.1",
]
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests are mandatory under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        # Playwright starts chromium on a new, empty temporary profile (its
        # --user-data-dir) and deletes it when the browser closes.
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture()
def page(browser) -> Iterator:
    """A tab in a context of its own: no cookies or storage shared between tests."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    public_url: str  # http://loyalty.test:PORT, the same server under a name that is not localhost
    app: object

    @contextmanager
    def unit_of_work(self):
        """A session on the live server's database that commits at the end of the block."""
        from loyalty.db import unit_of_work

        with self.app.app_context(), unit_of_work() as session:
            yield session


@pytest.fixture(scope="session")
def live_server(app, tmp_path_factory) -> Iterator[LiveServer]:
    # Depending on ``app`` puts the run's configuration in the environment, so
    # this second instance shares its secret key and Redis, not its database.
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from web.extensions import db
    from wsgi import create_app

    with fresh_database("live", tmp_path_factory.mktemp("live-server")) as url:
        live_app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with live_app.app_context():
            upgrade(directory=str(MIGRATIONS))
        server = make_server("127.0.0.1", 0, live_app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        try:
            port = server.server_port
            yield LiveServer(url=f"http://127.0.0.1:{port}", public_url=f"http://loyalty.test:{port}", app=live_app)
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
            with live_app.app_context():
                db.session.remove()
                for engine in db.engines.values():
                    engine.dispose()
