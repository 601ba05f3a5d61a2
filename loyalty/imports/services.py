"""Importing an end-of-day purchases file through the purchase services, one purchase per transaction.

Each purchase and each return of the file is recorded by
``loyalty.purchases.services`` exactly as a till's request would be, and
committed on its own: a rejected one rolls back whole, so it never leaves half a
purchase behind, and the ones before it stay. The till's ``external_id`` is the
idempotency key, so importing the same file again awards nothing twice: its
purchases are reported as already recorded. The same ``external_id`` with other
content is rejected (``idempotency_conflict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.errors import LoyaltyError, NotFound
from loyalty.idempotency import Outcome, request_hash
from loyalty.imports.csvfile import RETURN, FileFormat, Group, read_groups
from loyalty.merchants.services import get_store
from loyalty.program.services import get_program
from loyalty.purchases import services as purchases
from loyalty.purchases.queries import purchase_id_for_external_id
from loyalty.purchases.returns import return_purchase
from loyalty.units import minor_digits

REJECTED_ROW = "invalid_row"


@dataclass(frozen=True)
class Rejection:
    """A purchase or return of the file that was not recorded, and why."""

    first_line: int
    last_line: int
    kind: str
    external_id: str
    reason: str
    message: str

    def describe(self) -> str:
        if self.first_line == self.last_line:
            lines = f"line {self.first_line}"
        else:
            lines = f"lines {self.first_line}-{self.last_line}"
        name = f" ({self.kind} {self.external_id})" if self.external_id else ""
        return f"{lines}{name}: {self.reason}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: counts of what was recorded, found already recorded, and rejected."""

    rows: int = 0
    purchases: int = 0
    returns: int = 0
    already_recorded: int = 0
    points_awarded: int = 0
    points_reversed: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return sum(r.last_line - r.first_line + 1 for r in self.rejected)


def import_purchases(
    session: Session,
    stream: TextIO,
    *,
    store_id: str,
    actor: Actor,
    on_progress: Callable[[int], Any] | None = None,
) -> ImportReport:
    """Record every purchase and return of the file at the store, each in its own transaction (committed here).

    ``on_progress`` is told how many rows each purchase or return took. A store the
    actor cannot see is ``NotFound``; an unreadable header is ``csvfile.FileError``;
    both before anything is written.
    """
    store = get_store(session, store_id, actor=actor)
    program = get_program(session)
    currency = program.currency
    file_format = FileFormat(minor_digits=minor_digits(currency), timezone=store.timezone)
    store_id, merchant_id = store.id, store.merchant_id
    session.commit()  # the program's defaults, on a first run; nothing else is written yet
    report = ImportReport()
    for group in read_groups(stream, file_format):
        report.rows += group.rows
        if group.error is not None:
            _reject(report, group, REJECTED_ROW, str(group.error))
        else:
            try:
                outcome = _record(
                    session, group, store_id=store_id, merchant_id=merchant_id, currency=currency, actor=actor
                )
                session.commit()
            except LoyaltyError as error:
                session.rollback()
                _reject(report, group, error.reason, error.message)
            else:
                _count(report, group, outcome)
        if on_progress is not None:
            on_progress(group.rows)
    return report


def _record(session: Session, group: Group, *, store_id: str, merchant_id: str, currency: str, actor: Actor) -> Outcome:
    fingerprint = request_hash(group.fingerprint_body(store_id=store_id, currency=currency))
    if group.kind == RETURN:
        purchase_id = purchase_id_for_external_id(
            session, merchant_id=merchant_id, external_id=group.original_external_id
        )
        if purchase_id is None:
            raise NotFound(f"No purchase of this merchant has the external_id {group.original_external_id!r}.")
        return return_purchase(
            session,
            purchase_id=purchase_id,
            external_id=group.external_id,
            items=group.items,
            amount_minor=None,
            fingerprint=fingerprint,
            actor=actor,
        )
    return purchases.record_purchase(
        session,
        store_id=store_id,
        terminal_id=None,
        external_id=group.external_id,
        member_ref=group.member_ref,
        occurred_at=group.occurred_at,
        currency=currency,
        total_minor=group.total_minor,
        items=group.items,
        fingerprint=fingerprint,
        actor=actor,
    )


def _count(report: ImportReport, group: Group, outcome: Outcome) -> None:
    if outcome.replayed:
        report.already_recorded += 1
    elif group.kind == RETURN:
        report.returns += 1
        report.points_reversed += outcome.receipt["points_reversed"]
    else:
        report.purchases += 1
        if outcome.receipt["member_id"] is not None:  # an anonymous purchase's points wait for a claim
            report.points_awarded += outcome.receipt["points_awarded"]


def _reject(report: ImportReport, group: Group, reason: str, message: str) -> None:
    report.rejected.append(
        Rejection(
            first_line=group.first_line,
            last_line=group.last_line,
            kind=group.kind,
            external_id=group.external_id,
            reason=reason,
            message=message,
        )
    )
