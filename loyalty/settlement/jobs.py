"""RQ entry point of settlement: the daily schedule that closes the months that have ended."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loyalty.actors import SYSTEM
from loyalty.db import unit_of_work, utcnow
from loyalty.merchants.models import Merchant
from loyalty.program.services import get_program
from loyalty.settlement.statements import close_statement, months_due

log = logging.getLogger(__name__)


def close_statements(now: datetime | None = None) -> dict[str, int]:
    """Close every merchant's ended months that are not closed yet, one merchant-month per transaction.

    Runs daily, so a month is closed the day after it ends, and a missed run is
    made up by the next. Two runs at once cannot close a month twice: the
    second fails on the statement's unique (merchant, month) and leaves it.
    """
    now = now or utcnow()
    with unit_of_work() as session:
        timezone = get_program(session).timezone
        merchant_ids = list(session.scalars(select(Merchant.id).order_by(Merchant.id)))
    closed = lines = 0
    for merchant_id in merchant_ids:
        with unit_of_work() as session:
            merchant = session.get(Merchant, merchant_id)
            periods = months_due(session, merchant, timezone=timezone, now=now)
        for period in periods:
            try:
                with unit_of_work() as session:
                    statement = close_statement(
                        session, merchant_id=merchant_id, period_start=period, actor=SYSTEM, now=now
                    )
                    lines += statement.line_count
            except IntegrityError:
                log.info("settlement: %s %s was closed by another run", merchant_id, period)
                break
            closed += 1
    log.info("settlement: %d statements closed, %d lines", closed, lines)
    return {"statements": closed, "lines": lines}
