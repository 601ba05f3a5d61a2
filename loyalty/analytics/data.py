"""Set-based reads and writes of the analytics run: whole tables streamed into numpy arrays, results written in bulk.

Never a query per member: the members and the purchases are each read by one
streamed statement, and results go back as a few statements per chunk (on
PostgreSQL by COPY). The same code runs on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, cast, delete, func, select, text, update
from sqlalchemy.orm import Session

from loyalty.analytics.models import LifecycleStageChange, MemberAnalytics
from loyalty.db import bulk_insert, is_postgres
from loyalty.members.models import Member
from loyalty.purchases.models import Purchase

SECONDS_PER_DAY = 86400
READ_PARTITION = 100_000


def epoch_seconds(session: Session, column: Any) -> Any:
    """Whole seconds since 1970-01-01 UTC of a timestamp column, computed by the database."""
    if is_postgres(session):
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # SQLite stores UTC text; julianday reads it (2440587.5 is 1970-01-01T00:00Z).
    return cast(func.round((func.julianday(column) - 2440587.5) * SECONDS_PER_DAY), BigInteger)


@dataclass
class MemberArrays:
    ids: list[str]
    enrolled_day: np.ndarray
    stage: list[str]

    def index(self) -> dict[str, int]:
        return {member_id: n for n, member_id in enumerate(self.ids)}


def read_members(session: Session) -> MemberArrays:
    """Every member's id, enrolment day and stored stage, in id order, by one streamed statement."""
    if is_postgres(session):
        return _copy_members(session)
    stmt = select(Member.id, epoch_seconds(session, Member.enrolled_at), Member.lifecycle_stage).order_by(Member.id)
    ids: list[str] = []
    enrolled: list[int] = []
    stages: list[str] = []
    for rows in session.execute(stmt.execution_options(yield_per=READ_PARTITION)).partitions():
        for member_id, seconds, stage in rows:
            ids.append(member_id)
            enrolled.append(int(seconds))
            stages.append(stage)
    return MemberArrays(ids, np.asarray(enrolled, dtype=np.int64) // SECONDS_PER_DAY, stages)


@dataclass
class PurchaseArrays:
    member: np.ndarray  # int64 index into MemberArrays.ids
    seconds: np.ndarray  # int64 seconds since 1970-01-01 UTC
    amount: np.ndarray  # int64 net amount (total less returned), minor units


def read_purchases(
    session: Session, members: MemberArrays, *, until: Any, on_rows: Callable[[int], Any] | None = None
) -> PurchaseArrays:
    """Every member purchase up to ``until``: member index, time and net amount, by one streamed statement.

    Read in the same transaction as ``read_members``, so that the members' order is the same in both.
    """
    if is_postgres(session):
        return _copy_purchases(session, until=until)
    index = members.index()
    stmt = select(
        Purchase.member_id,
        epoch_seconds(session, Purchase.occurred_at),
        Purchase.total_minor - Purchase.returned_minor,
    ).where(Purchase.member_id.is_not(None), Purchase.occurred_at <= until)
    members: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    amounts: list[np.ndarray] = []
    read = 0
    for rows in session.execute(stmt.execution_options(yield_per=READ_PARTITION)).partitions():
        ids, secs, nets = zip(*rows, strict=True)
        members.append(np.fromiter((index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids)))
        seconds.append(np.fromiter(secs, dtype=np.int64, count=len(ids)))
        amounts.append(np.fromiter(nets, dtype=np.int64, count=len(ids)))
        read += len(ids)
        if on_rows is not None:
            on_rows(read)
    if not members:
        empty = np.zeros(0, dtype=np.int64)
        return PurchaseArrays(empty, empty, empty)
    member = np.concatenate(members)
    known = member >= 0  # a member enrolled after the members were read waits for the next run
    return PurchaseArrays(member[known], np.concatenate(seconds)[known], np.concatenate(amounts)[known])


def begin_snapshot(session: Session) -> None:
    """Start a transaction whose reads all see one snapshot (PostgreSQL; SQLite's transactions already do)."""
    if is_postgres(session):
        from psycopg.pq import TransactionStatus

        if _driver(session).info.transaction_status == TransactionStatus.IDLE:
            # Only as a transaction's first statement (inside a caller's transaction, as in tests, it has its own).
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        # The purchases' join to the members' numbering fits in memory instead of spilling to disk.
        session.execute(text("SET LOCAL work_mem = '256MB'"))


def _driver(session: Session):
    return session.connection().connection.driver_connection


def _copy_members(session: Session) -> MemberArrays:
    sql = (
        "COPY (SELECT id, floor(extract(epoch FROM enrolled_at))::bigint, lifecycle_stage "
        "FROM members ORDER BY id) TO STDOUT"
    )
    with _driver(session).cursor() as cursor, cursor.copy(sql) as copy:
        raw = bytearray()
        for block in copy:
            raw += block  # one growing buffer: no list of blocks joined into a second copy
    ids: list[str] = []
    enrolled: list[int] = []
    stages: list[str] = []
    for line in raw.decode().splitlines():
        member_id, seconds, stage = line.split("\t")
        ids.append(member_id)
        enrolled.append(int(seconds))
        stages.append(stage)
    return MemberArrays(ids, np.asarray(enrolled, dtype=np.int64) // SECONDS_PER_DAY, stages)


# Binary COPY of three bigints: per row a 2-byte field count, then each field's 4-byte length and 8 bytes.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l0", ">i4"),
        ("member", ">i8"),
        ("l1", ">i4"),
        ("seconds", ">i8"),
        ("l2", ">i4"),
        ("amount", ">i8"),
    ]
)
_HEADER, _TRAILER = 19, 2


def _copy_purchases(session: Session, *, until: Any) -> PurchaseArrays:
    # Members are numbered in id order, as read_members lists them, in the same snapshot.
    sql = (
        "COPY (SELECT m.n, floor(extract(epoch FROM p.occurred_at))::bigint, "
        "(p.total_minor - p.returned_minor)::bigint FROM purchases p "
        "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM members) m "
        "ON m.id = p.member_id WHERE p.occurred_at <= %s) TO STDOUT (FORMAT binary)"
    )
    with _driver(session).cursor() as cursor, cursor.copy(sql, (until,)) as copy:
        raw = bytearray()
        for block in copy:
            raw += block  # one growing buffer: no list of blocks joined into a second copy
    rows = np.frombuffer(raw, dtype=_ROW, offset=_HEADER, count=(len(raw) - _HEADER - _TRAILER) // _ROW.itemsize)
    return PurchaseArrays(
        rows["member"].astype(np.int64), rows["seconds"].astype(np.int64), rows["amount"].astype(np.int64)
    )


def replace_member_analytics(session: Session, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Replace every member's figures with ``rows`` in the caller's transaction (readers see old or new)."""
    session.execute(delete(MemberAnalytics))
    return bulk_insert(session, MemberAnalytics.__table__, columns, rows)


def change_stages(
    session: Session, member_ids: Sequence[str], *, old: str, new: str, now: Any, run_id: str | None
) -> int:
    """Move these members from stage ``old`` to ``new`` and record each move; returns how many moved.

    Only members still at ``old`` move (one purchase path or another run may
    have changed them meanwhile): each history row is a move that happened.
    """
    moved = session.scalars(
        update(Member)
        .where(Member.id.in_(list(member_ids)), Member.lifecycle_stage == old)
        .values(lifecycle_stage=new)
        .returning(Member.id)
        .execution_options(synchronize_session=False)
    ).all()
    if moved:
        bulk_insert(
            session,
            LifecycleStageChange.__table__,
            ("member_id", "from_stage", "to_stage", "changed_at", "run_id"),
            ((member_id, old, new, now, run_id) for member_id in moved),
        )
    return len(moved)
