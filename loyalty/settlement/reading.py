"""Reading statements: one, a merchant's list, their lines a page at a time, and the CSV of every line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.db import isoformat_z
from loyalty.errors import NotFound
from loyalty.merchants.checks import get_merchant
from loyalty.pagination import Page, paginate
from loyalty.settlement.models import Statement, StatementLine
from loyalty.settlement.statements import BATCH
from loyalty.text import usable_id


def get_statement(session: Session, statement_id: str, *, actor: Actor) -> Statement:
    """A statement; a merchant sees only its own."""
    statement = session.get(Statement, statement_id) if usable_id(statement_id) else None
    if statement is None or not actor.sees_merchant(statement.merchant_id):
        raise NotFound("No such statement.")
    return statement


def list_statements(
    session: Session, *, merchant_id: str, limit: int, cursor: str | None, actor: Actor
) -> Page[Statement]:
    """A merchant's statements, newest first."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    query = select(Statement).where(Statement.merchant_id == merchant.id)
    return paginate(session, query, Statement.id, limit=limit, cursor=cursor)


def statement_lines(session: Session, statement: Statement, *, limit: int, cursor: str | None) -> Page[StatementLine]:
    """A statement's lines, in the order the entries were written (by entry id, newest first per page)."""
    query = select(StatementLine).where(StatementLine.statement_id == statement.id)
    return paginate(session, query, StatementLine.entry_id, limit=limit, cursor=cursor)


def iter_lines(session: Session, statement: Statement) -> Iterable[StatementLine]:
    """Every line of a statement, oldest entry first (for a CSV), read in batches."""
    last = ""
    while True:
        rows = list(
            session.scalars(
                select(StatementLine)
                .where(StatementLine.statement_id == statement.id, StatementLine.entry_id > last)
                .order_by(StatementLine.entry_id)
                .limit(BATCH)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].entry_id


CSV_HEADER = (
    "entry_id",
    "created_at",
    "kind",
    "purchase_id",
    "redemption_id",
    "merchant_points",
    "operator_points",
    "redeemed_points",
)


def csv_rows(session: Session, statement: Statement) -> Iterator[tuple]:
    """The rows of a statement's CSV: a header, a row per line, then the totals."""
    yield CSV_HEADER
    for line in iter_lines(session, statement):
        yield (
            line.entry_id,
            isoformat_z(line.entry_created_at),
            line.kind,
            line.purchase_id or "",
            line.redemption_id or "",
            line.merchant_points,
            line.operator_points,
            line.redeemed_points,
        )
    yield ("total", "", "", "", "", statement.merchant_points, statement.operator_points, statement.redeemed_points)
    yield ("issued_amount_minor", statement.issued_amount_minor, statement.currency)
    yield ("redeemed_amount_minor", statement.redeemed_amount_minor, statement.currency)
    yield ("prepaid_amount_minor", statement.prepaid_amount_minor, statement.currency)
    yield ("net_minor", statement.net_minor, statement.currency)
