"""Declarative base, id generation, time helpers and the unit of work."""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, configure_mappers
from ulid import ULID

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no timezone type, so values are normalised to UTC on the way in
    and tagged as UTC on the way out; PostgreSQL stores `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def isoformat_z(value: datetime | None) -> str | None:
    """A timestamp as the API writes it: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add_months(value: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, on the month's last day when it is shorter."""
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


def new_id(prefix: str) -> str:
    """An opaque, time-ordered id such as ``mbr_01JD3...``.

    ULIDs sort by creation time, so indexes stay append-mostly and cursors
    over ids list newest first without a second column.
    """
    return f"{prefix}_{ULID()}"


BUCKETS = 10_000


def stable_bucket(key: str) -> int:
    """A stable hash of ``key`` into ``0..BUCKETS-1``: the first 32 bits of its MD5, as SQL computes it too.

    PostgreSQL computes the same with ``md5()`` (``loyalty.campaigns.audience``); on
    SQLite it is registered as the SQL function ``stable_bucket``.
    """
    return int(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:8], 16) % BUCKETS


# A pooled connection idle for longer than this is checked with a round trip before use.
PING_AFTER_IDLE_SECONDS = 5.0


def configure_engine(engine: Engine, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Per-connection settings: WAL and foreign keys for SQLite; on a server, a ping after idleness."""
    if engine.dialect.name != "sqlite":
        _ping_after_idle(engine, ping_after_idle)
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy
        # emit BEGIN itself (the documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function("stable_bucket", 1, stable_bucket, deterministic=True)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        # IMMEDIATE takes the write lock up front, so two writers queue on the
        # busy timeout instead of failing with "database is locked" on upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Check a pooled connection with a round trip before use, if it sat in the pool longer than ``seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per
    request (and per sale of a till's batch) to guard against a server that went
    away. A connection returned to the pool moments ago is all but certainly
    alive, so only one idle for longer is pinged; a dead one is replaced before
    the request sees it. If the server goes away between two close uses, the
    next statement on that connection fails as a disconnect: the request is
    answered 503 with nothing written, and SQLAlchemy empties the pool of every
    connection opened before the failure, so the requests after it connect anew.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        returned_at = record.info.get("returned_at")  # none yet: connected just now
        if returned_at is None or time.monotonic() - returned_at < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (SQLAlchemy's documented contract).
            raise DisconnectionError("the pooled connection no longer answers") from error


_session_factory: Callable[[], Session] | None = None


def set_session_factory(factory: Callable[[], Session]) -> None:
    """Tell jobs and commands where sessions come from (set by the app)."""
    global _session_factory
    _session_factory = factory


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on error."""
    if _session_factory is None:
        raise RuntimeError("no session factory configured; create the app first")
    session = _session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


_read_session_factory: Callable[[], Session] | None = None


def set_read_session_factory(factory: Callable[[], Session] | None) -> None:
    """Where read-only sessions come from: a replica's sessions, or None for the primary's (set by the app)."""
    global _read_session_factory
    _read_session_factory = factory


@contextmanager
def read_only() -> Iterator[Session]:
    """A session for reports and monitoring that never commits.

    On the analytics replica when one is configured (``ANALYTICS_DATABASE_URL``),
    which may lag the primary by moments; otherwise the primary's usual session.
    """
    if _read_session_factory is None:
        if _session_factory is None:
            raise RuntimeError("no session factory configured; create the app first")
        session = _session_factory()
        try:
            yield session
        except BaseException:
            session.rollback()  # a failed read leaves the primary's session usable
            raise
        return
    session = _read_session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


_NO_WAIT = "SET LOCAL synchronous_commit TO OFF"
_BEGIN_NO_WAIT = b"BEGIN; SET LOCAL synchronous_commit TO OFF"


def _begin_without_wait(session: Session) -> None:
    """Start the session's transaction with ``synchronous_commit`` off: one round trip, once per sale.

    psycopg begins a transaction with a ``BEGIN`` of its own before the first
    statement, and the ``SET`` would be a second round trip, each costing about
    as much as a statement of the sale. Sent together through the connection's
    libpq handle (``pgconn``, psycopg's documented way to low-level commands),
    they make one; psycopg then finds the transaction open and sends no
    ``BEGIN``, and commits or rolls back as usual.
    """
    import psycopg
    from psycopg import pq

    driver = session.connection().connection.driver_connection
    begun = driver.pgconn.transaction_status != pq.TransactionStatus.IDLE
    # A connection set to another isolation level, read-only or deferrable begins as psycopg says.
    custom = (driver.isolation_level, driver.read_only, driver.deferrable) != (None, None, None)
    if begun or custom:
        driver.execute(_NO_WAIT)
        return
    result = driver.pgconn.exec_(_BEGIN_NO_WAIT)
    if result.status != pq.ExecStatus.COMMAND_OK:
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.OperationalError(f"could not begin a transaction: {message or result.status.name}")


_DURABLE = select(func.txid_current())


@contextmanager
def durable_at_end(session: Session) -> Iterator[Callable[[], None]]:
    """Many commits that do not each wait for the disk, made durable together when the block ends.

    Yields ``no_wait``, to call at the start of each transaction inside. On
    PostgreSQL it turns ``synchronous_commit`` off for that transaction only:
    the commit is visible at once and reaches the disk within moments, not at
    once. The block ends with one commit that waits; PostgreSQL's log is
    written in order, so waiting for it is waiting for every commit before it.
    A crash before the end may lose whole transactions of the block (never
    part of one): the caller answers, and hands work to others, only after the
    block, so whoever sent them sees no answer and sends them again. Elsewhere
    (SQLite) commits are as usual.
    """
    relaxed = is_postgres(session)
    used = False

    def no_wait() -> None:
        nonlocal used
        if relaxed:
            _begin_without_wait(session)
            used = True

    yield no_wait
    if used:
        # A transaction id makes the commit write a record, and so wait for the log up to it.
        session.execute(_DURABLE)
        session.commit()


def json_type():
    """JSON that is JSONB on PostgreSQL (indexable, compact) and JSON elsewhere."""
    from sqlalchemy import JSON
    from sqlalchemy.dialects.postgresql import JSONB

    return JSON().with_variant(JSONB(), "postgresql")


Row = TypeVar("Row", bound="Base")


def row_object(model: type[Row], values: dict[str, Any]) -> Row:
    """An object of ``model`` holding ``values``, as a query fills one in: for a row written or read with Core.

    The values go straight into its ``__dict__``, without the attribute event that
    the constructor fires for each (a dozen columns cost about as much as a
    statement). It reads like any other object of the model. It belongs to no
    session: to keep it in one, attach it (``make_transient_to_detached``, then
    ``Session.add``); never to insert it, which Core has done.
    """
    mapper = model.__mapper__
    if not mapper.configured:  # the constructor would have configured the mappers; new_instance does not
        configure_mappers()
    row = mapper.class_manager.new_instance()
    row.__dict__.update(values)
    return row


def upsert_insert(session: Session, table: Any) -> Any:
    """An ``INSERT`` with ``ON CONFLICT`` clauses for the session's database (PostgreSQL or SQLite >= 3.35)."""
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (bulk paths use its COPY and its locking there)."""
    return session.get_bind().dialect.name == "postgresql"


def bulk_insert(session: Session, table: Any, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert many rows: by COPY on PostgreSQL, by executemany elsewhere; returns how many."""
    count = 0
    if is_postgres(session):
        session.flush()
        connection = session.connection().connection.driver_connection
        with connection.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= 5000:
            session.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)
        count += len(batch)
    return count
