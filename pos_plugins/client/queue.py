"""The till's durable queue of sales and returns: one SQLite file, in WAL mode, fsynced at each commit.

A sale is written here, and committed, before the first attempt to send it, so
a crash or a power cut at any moment after ``enqueue`` returns loses nothing.
Rows are delivered strictly in the order they were written (``seq``). A row
is ``pending`` until the service accepts it (``delivered``, with the answer
kept) or refuses it for good (``rejected``, with the status and ``reason``).
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pos_plugins.client.models import QueuedRequest

PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    path TEXT,
    purchase_external_id TEXT,
    body BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    delivered_at REAL,
    http_status INTEGER,
    reason TEXT,
    last_error TEXT,
    response BLOB,
    UNIQUE (kind, external_id)
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS flusher (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

_COLUMNS = (
    "seq, kind, external_id, path, purchase_external_id, body, status, attempts, next_attempt_at, created_at, "
    "delivered_at, http_status, reason, last_error, response"
)


@dataclass(frozen=True)
class Row:
    seq: int
    kind: str
    external_id: str
    path: str | None
    purchase_external_id: str | None
    body: bytes
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    delivered_at: float | None
    http_status: int | None
    reason: str | None
    last_error: str | None
    response: bytes | None

    def public(self) -> QueuedRequest:
        return QueuedRequest(
            seq=self.seq,
            kind=self.kind,
            external_id=self.external_id,
            status=self.status,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at if self.status == PENDING else None,
            created_at=self.created_at,
            delivered_at=self.delivered_at,
            http_status=self.http_status,
            reason=self.reason,
            last_error=self.last_error,
        )


class Backoff:
    """Exponential backoff with jitter: ``base * factor**(attempts - 1)``, capped, then between half and all of it.

    The jitter keeps many tills that lost the service at the same moment from
    all coming back at the same second.
    """

    def __init__(self, base: float = 1.0, factor: float = 2.0, cap: float = 300.0, rng: random.Random | None = None):
        self.base, self.factor, self.cap = base, factor, cap
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1 for the first)."""
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempts - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


class LocalConflict(Exception):
    """The same external id was queued before with a different body."""


class Outbox:
    """The durable queue; safe to share between threads of one process."""

    def __init__(self, path: str | os.PathLike, *, clock=None):
        self.path = os.fspath(path)
        self.clock = clock or time.time
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        # Autocommit mode: every transaction here is explicit.
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit is fsynced to the WAL, so a power cut after enqueue() loses nothing.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params: tuple = ()) -> list[Row]:
        with self._lock:
            return [Row(*values) for values in self._db.execute(sql, params).fetchall()]

    def enqueue(
        self, kind: str, external_id: str, body: bytes, *, path: str | None, purchase_external_id: str | None = None
    ) -> Row:
        """Write a request durably and return its row; the same request again returns the row already there."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                existing = self._db.execute(
                    f"SELECT {_COLUMNS} FROM requests WHERE kind = ? AND external_id = ?",  # noqa: S608 - constant
                    (kind, external_id),
                ).fetchone()
                if existing is None:
                    self._db.execute(
                        "INSERT INTO requests (kind, external_id, path, purchase_external_id, body, next_attempt_at, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (kind, external_id, path, purchase_external_id, body, now, now),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if existing is not None:
            row = Row(*existing)
            if _canonical(row.body) != _canonical(body):
                raise LocalConflict(f"{kind} {external_id!r} is already queued with a different body.")
            return row
        return self.get(kind, external_id)

    def get(self, kind: str, external_id: str) -> Row | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM requests WHERE kind = ? AND external_id = ?",  # noqa: S608 - constant
            (kind, external_id),
        )
        return rows[0] if rows else None

    def head(self) -> Row | None:
        """The oldest pending request: the only one that may be sent next."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM requests WHERE status = 'pending' ORDER BY seq LIMIT 1"  # noqa: S608 - constant
        )
        return rows[0] if rows else None

    def oldest_pending(self, limit: int) -> list[Row]:
        """Up to ``limit`` pending requests from the head, in order: what may be sent together next."""
        return self._rows(
            f"SELECT {_COLUMNS} FROM requests WHERE status = 'pending' ORDER BY seq LIMIT ?",  # noqa: S608 - constant
            (limit,),
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The marks made inside, in one commit (one fsync) instead of one each; all or none if the till dies."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def listing(self, *, status: str | None = None, limit: int = 1000) -> list[Row]:
        """Requests in queue order, optionally of one status only."""
        if status:
            return self._rows(
                f"SELECT {_COLUMNS} FROM requests WHERE status = ? ORDER BY seq LIMIT ?",  # noqa: S608 - constant
                (status, limit),
            )
        return self._rows(f"SELECT {_COLUMNS} FROM requests ORDER BY seq LIMIT ?", (limit,))  # noqa: S608 - constant

    def counts(self) -> dict[str, int]:
        with self._lock:
            found = dict(self._db.execute("SELECT status, count(*) FROM requests GROUP BY status").fetchall())
        return {status: found.get(status, 0) for status in (PENDING, DELIVERED, REJECTED)}

    def _update(self, sql: str, params: tuple) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def mark_delivered(self, seq: int, *, http_status: int, response: bytes) -> None:
        self._update(
            "UPDATE requests SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, http_status = ?, "
            "response = ?, reason = NULL, last_error = NULL WHERE seq = ?",
            (self.clock(), http_status, response, seq),
        )

    def mark_rejected(
        self, seq: int, *, http_status: int | None, reason: str, message: str, response: bytes | None = None
    ) -> None:
        self._update(
            "UPDATE requests SET status = 'rejected', attempts = attempts + 1, http_status = ?, reason = ?, "
            "last_error = ?, response = ? WHERE seq = ?",
            (http_status, reason, message, response, seq),
        )

    def mark_retry(self, seq: int, *, next_attempt_at: float, http_status: int | None, reason: str, message: str):
        self._update(
            "UPDATE requests SET attempts = attempts + 1, next_attempt_at = ?, http_status = ?, reason = ?, "
            "last_error = ? WHERE seq = ?",
            (next_attempt_at, http_status, reason, message, seq),
        )

    def requeue(self, seq: int) -> bool:
        """Send a rejected request again (after the cause was fixed); it keeps its place in the order."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE requests SET status = 'pending', next_attempt_at = ? WHERE seq = ? AND status = 'rejected'",
                (self.clock(), seq),
            )
            return cursor.rowcount == 1

    def retry_now(self) -> None:
        """Make every pending request due at once (the service is known to be back)."""
        self._update("UPDATE requests SET next_attempt_at = ? WHERE status = 'pending'", (self.clock(),))

    def prune(self, *, older_than: float) -> int:
        """Forget delivered requests delivered before ``older_than``; pending and rejected ones stay."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM requests WHERE status = 'delivered' AND delivered_at < ?", (older_than,)
            )
            return cursor.rowcount

    def acquire(self, ttl: float) -> bool:
        """Take (or extend) the right to send, so that two processes on one queue never send out of order."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT owner, expires_at FROM flusher WHERE id = 1").fetchone()
                taken = row is None or row[0] == self.owner or row[1] < now or _gone(row[0])
                if taken:
                    self._db.execute(
                        "INSERT INTO flusher (id, owner, expires_at) VALUES (1, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
                        (self.owner, now + ttl),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return taken

    def release(self) -> None:
        self._update("DELETE FROM flusher WHERE id = 1 AND owner = ?", (self.owner,))


def _gone(owner: str) -> bool:
    """Whether the process that holds the lease has died on this machine (a till restarted after a crash)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _canonical(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return body
