"""Credentials kept in each web process, and dropped the moment PostgreSQL says they changed.

Every API request starts by reading its key, the key's merchant and terminal, the
terminal's signing secrets and the program's settings (``loyalty.credentials``).
They change only when an operator changes them, so each process keeps what it
read, and a trigger on each of those tables (migration 0019) sends a PostgreSQL
notification on the channel ``loyalty_credentials`` whenever a commit changes a
column a request is judged on. A thread of the process listens on its own
connection; each notification empties the cache. What another process commits is
therefore seen within the moments the notification takes to arrive, and what this
process commits at once (``forget_on_commit``).

Nothing is cached unless the listener hears its own probe, a notification it
sends itself every ``HEARTBEAT_SECONDS``: while it does not (at start, after the
database restarted, behind a pooler that drops its LISTEN, on SQLite, which has
no notifications), every request reads its credentials from the database as
before. A request that read
its credentials while a notification arrived does not keep them (the generation
it started from is gone). A key that is not found is never cached.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, Row, make_url
from sqlalchemy.orm import Session

CHANNEL = "loyalty_credentials"
PROBE = "probe:"  # a listener's check that its own notifications reach it; changes nothing
# Entries kept per process; past it the oldest goes (keys in use are a few per till).
CAPACITY = 10_000
# How often the listener sends itself a probe; one that does not come back within this stops the caching.
HEARTBEAT_SECONDS = 10.0
RETRY_SECONDS = 1.0

log = logging.getLogger(__name__)
_START_LOCK = threading.Lock()


@dataclass(frozen=True)
class CachedCredentials:
    """What ``loyalty.credentials`` read for one key: the row, its standing, its secrets and the program."""

    key: Row
    last_used_at: datetime | None
    merchant_status: str | None
    require_signed_requests: bool
    terminal_status: str | None
    secrets: tuple[tuple[str, datetime | None], ...]  # (encrypted secret, expires_at), valid when read
    program: dict[str, Any] | None  # the program row's column values; None when there is none yet


class CredentialsCache:
    """A process's credentials by secret hash, emptied by every notification on ``CHANNEL``."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        capacity: int = CAPACITY,
        heartbeat: float = HEARTBEAT_SECONDS,
        retry: float = RETRY_SECONDS,
    ):
        self._connect, self._capacity, self._heartbeat, self._retry = connect, capacity, heartbeat, retry
        self._pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, CachedCredentials] = {}
        self._generation = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_heard: str | None = None  # the payload of the last notification that emptied the cache

    # -- what requests use ---------------------------------------------------------------------

    def generation(self) -> int | None:
        """The generation to pass to ``put`` after reading from the database; None while nothing may be cached."""
        if self._pid != os.getpid():
            self._start()
        return self._generation if self._listening else None

    def get(self, secret_hash: str) -> CachedCredentials | None:
        return self._entries.get(secret_hash)

    def put(self, secret_hash: str, entry: CachedCredentials, generation: int) -> None:
        """Keep ``entry`` unless a notification arrived since ``generation`` was read."""
        with self._lock:
            if not self._listening or generation != self._generation:
                return
            if secret_hash not in self._entries and len(self._entries) >= self._capacity:
                del self._entries[next(iter(self._entries))]
            self._entries[secret_hash] = entry

    def forget(self, *, listening: bool | None = None) -> None:
        """Drop every entry; what was being read from the database before this is not kept either."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            if listening is not None:
                self._listening = listening

    @property
    def listening(self) -> bool:
        return self._listening

    def __len__(self) -> int:
        return len(self._entries)

    # -- the listener ----------------------------------------------------------------------------

    def _start(self) -> None:
        # First use in this process (gunicorn forks its workers after importing: a thread of the
        # parent does not exist in the child, and neither may its entries be trusted).
        with _START_LOCK:
            if self._pid == os.getpid():
                return
            self._reset()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._listen, name="credentials-listener", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening (and caching); for tests and shutdown."""
        self._stop.set()
        self.forget(listening=False)
        if self._thread is not None:
            self._thread.join(timeout=self._heartbeat + 5)

    def _listen(self) -> None:
        failing = False
        probe = f"{PROBE}{uuid.uuid4().hex}"
        while not self._stop.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        # Our own probe must come back within the heartbeat: a session that does not keep
                        # its LISTEN (a pooler in transaction mode hands each statement to any server
                        # process) or a connection that died never caches, or stops caching.
                        connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, probe))
                        answered = False
                        for notification in connection.notifies(timeout=self._heartbeat):
                            if notification.payload == probe:
                                if not self._listening:
                                    self.forget(listening=True)
                                answered = True
                            elif not notification.payload.startswith(PROBE):  # another process's probe
                                self.forget()
                                self.last_heard = notification.payload
                        if not answered:
                            raise ConnectionError("no notification of its own came back")
                        if failing:
                            log.warning("credentials listener connected again; caching credentials")
                            failing = False
            except Exception as error:  # noqa: BLE001 (any failure: stop caching until connected again)
                if not failing:
                    log.warning("credentials listener lost its connection (%s); reading credentials each time", error)
                    failing = True
            self.forget(listening=False)
            self._stop.wait(self._retry)


_caches: dict[Engine, CredentialsCache] = {}


def enable(engine: Engine, *, listen_url: str | None = None) -> CredentialsCache | None:
    """Cache the credentials read through ``engine``'s sessions (PostgreSQL only); the cache, or None.

    The listener connects to ``listen_url`` when given (the primary itself, where the engine goes through a
    pooler in transaction mode, which does not keep a LISTEN), else where the engine does.
    """
    if engine.dialect.name != "postgresql":
        return None
    import psycopg

    url = make_url(listen_url) if listen_url else engine.url
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def connect():
        return psycopg.connect(dsn, autocommit=True, application_name="loyalty credentials listener")

    cache = _caches[engine] = CredentialsCache(connect)
    return cache


def cache_for(session: Session) -> CredentialsCache | None:
    """The cache of the engine this session reads from; None for a session bound to one connection (a test's
    transaction, whose uncommitted rows must not outlive it) or an engine without a cache."""
    if not _caches:
        return None
    return _caches.get(session.get_bind())  # type: ignore[call-overload]


# -- what this process commits, it forgets at once -------------------------------------------------

_CHANGED = "credentials_changed"


def _mark(_mapper, _connection, target) -> None:
    session = Session.object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def forget_on_commit(*models: type) -> None:
    """Empty this process's caches when a session commits a change to one of ``models`` (the listener would
    too, moments later; this closes the gap for the process that made the change)."""
    for model in models:
        for name in ("after_insert", "after_update", "after_delete"):
            event.listen(model, name, _mark)


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in _caches.values():
            cache.forget()


@event.listens_for(Session, "after_rollback")
def _nothing_committed(session: Session) -> None:
    session.info.pop(_CHANGED, None)
