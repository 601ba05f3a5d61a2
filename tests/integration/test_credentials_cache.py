"""Each web process keeps the credentials it has read, and drops them when PostgreSQL says they changed.

These tests use the app's own sessions (bound to the engine, committing for
real), not the rolled-back test transaction, whose rows must never be cached.
Changes are made through the API, through the service's own sessions, and with
plain SQL on a connection of their own, as another process or an operator would.
The statements the service runs are counted on the engine.
"""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import event, text

from loyalty import credentials_cache
from loyalty.credentials import load_credentials
from loyalty.db import utcnow
from loyalty.merchants.models import TerminalSecret
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers


@pytest.fixture()
def cache(app, engine, committed):
    if engine.dialect.name != "postgresql":
        pytest.skip("the cache is emptied by PostgreSQL's notifications; SQLite has none, and caches nothing")
    found = credentials_cache._caches.get(engine)
    assert found is not None, "the app caches credentials on PostgreSQL by default"
    found.generation()  # starts the listener of this process
    _wait(lambda: found.listening, "the listener never connected")
    found.forget()
    return found


@pytest.fixture()
def key_reads(engine):
    """How many times the service has read a key from the database."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM api_keys" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.fixture()
def raw_sql(engine):
    """A connection of its own, as another process or an operator at a SQL prompt."""
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


def _wait(condition, message: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, message
        time.sleep(0.02)
    return result


def _till(committed, cache=None, raw_sql=None):
    with committed() as session:
        merchant, _store, terminal, api_key, signing_secret = make_till(session)
        member = make_member(session)
        session.commit()
    if cache is not None:
        # The notifications of these commits arrive on their own time: let them pass before counting.
        _marker_passed(cache, raw_sql)
    return merchant, terminal, api_key, signing_secret, member


def _look_up(client, api_key, signing_secret, card_number):
    path = f"/api/v1/members?card_number={card_number}"
    return client.get(path, headers=bearer(api_key) | signed_headers(signing_secret, "GET", path))


def test_a_key_is_read_once_and_then_served_from_the_process_until_something_changes(
    app, cache, committed, raw_sql, key_reads
):
    _merchant, _terminal, api_key, signing_secret, member = _till(committed, cache, raw_sql)
    client = app.test_client()

    for _ in range(5):
        answer = _look_up(client, api_key, signing_secret, member.card_number)
        assert answer.status_code == 200, answer.json
        assert answer.json["items"][0]["id"] == member.id
    assert len(key_reads) == 1

    # A bad signature is still refused with the key cached: the secrets are kept, not the verdict.
    path = f"/api/v1/members?card_number={member.card_number}"
    forged = client.get(path, headers=bearer(api_key) | signed_headers("not-the-secret", "GET", path))
    assert forged.status_code == 401
    # An unknown key is never cached.
    for _ in range(2):
        assert client.get("/api/v1/program", headers=bearer("lk_not_a_key")).status_code == 401
    assert len(key_reads) == 3


def test_a_key_revoked_through_the_api_is_refused_by_the_next_request(app, cache, committed):
    merchant, terminal, api_key, signing_secret, member = _till(committed)
    with committed() as session:
        admin = make_key(session)
    client = app.test_client()
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200

    keys = client.get(f"/api/v1/keys?role=terminal&merchant_id={merchant.id}", headers=bearer(admin)).json["items"]
    (till_key,) = [key for key in keys if key["terminal_id"] == terminal.id]
    assert client.post(f"/api/v1/keys/{till_key['id']}/revoke", headers=bearer(admin)).status_code == 200

    # No waiting for the notification: the process that committed the change forgot at once.
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 401


def test_a_merchant_suspended_with_plain_sql_elsewhere_is_refused_once_the_notification_arrives(
    app, cache, committed, raw_sql, key_reads
):
    merchant, _terminal, api_key, signing_secret, member = _till(committed, cache, raw_sql)
    client = app.test_client()
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    assert len(key_reads) == 1  # cached

    raw_sql.execute("UPDATE merchants SET status = 'suspended' WHERE id = %s", (merchant.id,))

    _wait(lambda: _look_up(client, api_key, signing_secret, member.card_number).status_code != 200, "still served")
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code in (401, 403)


def test_the_program_settings_changed_with_plain_sql_are_read_again(app, cache, committed, raw_sql):
    with committed() as session:
        admin = make_key(session)
    client = app.test_client()
    before = client.get("/api/v1/program", headers=bearer(admin)).json["pending_days"]
    assert client.get("/api/v1/program", headers=bearer(admin)).json["pending_days"] == before

    raw_sql.execute("UPDATE programs SET pending_days = %s", (before + 3,))

    _wait(
        lambda: client.get("/api/v1/program", headers=bearer(admin)).json["pending_days"] == before + 3,
        "the program's old settings were still served",
    )


def _marker_passed(cache, raw_sql) -> int:
    """Send a notification of our own and wait for it: every notification sent before it has arrived too
    (PostgreSQL delivers them in commit order). The generation after it."""
    marker = f"marker {time.monotonic_ns()}"
    raw_sql.execute("SELECT pg_notify('loyalty_credentials', %s)", (marker,))
    _wait(lambda: cache.last_heard == marker, "the marker never arrived")
    return cache.generation()


def test_writing_a_keys_last_use_or_a_column_no_request_is_judged_on_sends_nothing(cache, committed, raw_sql):
    _till(committed, cache, raw_sql)
    generation = cache.generation()

    # The last use is written once a minute for every key in use: no notification for it.
    raw_sql.execute("UPDATE api_keys SET last_used_at = now() - interval '1 hour'")
    raw_sql.execute("UPDATE merchants SET name = name || ' Ltd', website = 'https://example.com'")
    raw_sql.execute("UPDATE terminals SET name = name || ' 2'")

    assert _marker_passed(cache, raw_sql) == generation + 1


def test_a_rolled_out_secret_stops_working_at_its_expiry_cached_or_not(app, cache, committed, raw_sql):
    _merchant, terminal, api_key, _signing_secret, _member = _till(committed)
    now = utcnow()
    with committed() as session:
        secret = session.query(TerminalSecret).filter_by(terminal_id=terminal.id).one()
        secret.expires_at = now + timedelta(hours=1)
        session.commit()
    _marker_passed(cache, raw_sql)

    with app.app_context():
        from web.extensions import db

        first = load_credentials(db.session(), api_key, now=now)
        db.session.remove()
        assert len(cache) == 1
        cached = load_credentials(db.session(), api_key, now=now)
        later = load_credentials(db.session(), api_key, now=now + timedelta(hours=2))
        db.session.remove()
    assert len(first.signing_secrets) == len(cached.signing_secrets) == 1
    assert later.signing_secrets == ()


def test_without_its_listener_the_process_reads_every_key_from_the_database_until_it_is_back(
    app, cache, committed, raw_sql, key_reads
):
    _merchant, _terminal, api_key, signing_secret, member = _till(committed, cache, raw_sql)
    client = app.test_client()
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    assert len(key_reads) == 1

    database = raw_sql.execute("SELECT current_database()").fetchone()[0]
    ended = raw_sql.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'loyalty credentials listener' AND datname = %s",
        (database,),
    ).fetchall()
    assert ended, "no listener connection found"
    # While it is gone nothing is served from memory (it may be back within the retry delay).
    _wait(lambda: not cache.listening or len(cache) == 0, "the cache outlived its listener")
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    assert len(key_reads) == 2

    _wait(lambda: cache.listening, "the listener did not connect again")
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    reads = len(key_reads)
    assert _look_up(client, api_key, signing_secret, member.card_number).status_code == 200
    assert len(key_reads) == reads  # cached again


def test_what_was_read_before_a_notification_is_not_kept(cache):
    entry = object()
    generation = cache.generation()
    cache.forget()  # what a notification does
    cache.put("a-secret-hash", entry, generation)  # type: ignore[arg-type]
    assert cache.get("a-secret-hash") is None
    cache.put("a-secret-hash", entry, cache.generation())  # type: ignore[arg-type]
    assert cache.get("a-secret-hash") is entry


def test_a_change_rolled_back_sends_nothing_and_one_committed_does(cache, engine, committed, raw_sql):
    generation = cache.generation()
    with engine.connect() as connection:
        connection.execute(text("UPDATE programs SET pending_days = pending_days + 1"))
        connection.execute(text("UPDATE terminal_secrets SET expires_at = NULL"))
        connection.rollback()
    assert _marker_passed(cache, raw_sql) == generation + 1

    generation = cache.generation()
    with engine.begin() as connection:
        connection.execute(text("UPDATE programs SET pending_days = pending_days"))
    _wait(lambda: cache.generation() != generation, "no notification for a committed change")


class _LosesItsListen:
    """A real connection whose LISTEN is lost, as behind a pooler in transaction mode, which hands each
    statement to whichever server process is free."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.connection.close()

    def execute(self, statement, *args):
        if statement.startswith("LISTEN"):
            return None
        return self.connection.execute(statement, *args)

    def notifies(self, **kwargs):
        return self.connection.notifies(**kwargs)


def test_a_listener_that_does_not_hear_its_own_probe_never_caches(engine, cache):
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    hears = credentials_cache.CredentialsCache(lambda: psycopg.connect(dsn, autocommit=True), heartbeat=0.2)
    deaf = credentials_cache.CredentialsCache(
        lambda: _LosesItsListen(psycopg.connect(dsn, autocommit=True)), heartbeat=0.2, retry=0.1
    )
    try:
        assert hears.generation() is None and deaf.generation() is None  # nothing cached before the probe
        _wait(lambda: hears.listening, "a listener that hears its probe starts caching")
        time.sleep(1.0)  # five heartbeats
        assert not deaf.listening and deaf.generation() is None
    finally:
        hears.stop()
        deaf.stop()
