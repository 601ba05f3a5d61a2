"""The program's settings."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.errors import ValidationFailed
from loyalty.program.models import Program
from loyalty.units import check_currency

DEFAULTS: dict[str, Any] = {
    "name": "Loyalty program",
    "currency": "EUR",
    "redemption_points": 100,
    "redemption_value_minor": 100,
    "pending_days": 14,
    "expiry_months": 24,
    "qualification_window_months": 12,
    "tier_grace_days": 30,
    "claim_window_days": 30,
    "timezone": "UTC",
}

_TIMEZONES = frozenset(available_timezones())


def check_timezone(name: str, field: str = "timezone") -> str:
    """Return ``name`` if it is an IANA timezone, else raise ``ValidationFailed``."""
    if name not in _TIMEZONES:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(
                f"{name!r} is not an IANA timezone (for example Europe/Paris).",
                errors={field: ["Unknown timezone."]},
            ) from None
    return name


def get_program(session: Session) -> Program:
    """The program, created with defaults the first time it is read."""
    program = session.get(Program, 1)
    if program is None:
        try:
            with session.begin_nested():
                program = Program(id=1, **DEFAULTS)
                session.add(program)
        except IntegrityError:
            # Another request created it first; theirs is the same defaults.
            program = session.get(Program, 1, populate_existing=True)
    return program


def update_program(session: Session, *, changes: dict[str, Any], actor: Actor) -> Program:
    """Change some settings; every change is audited with old and new values."""
    program = get_program(session)
    if "currency" in changes:
        check_currency(changes["currency"])
    if "timezone" in changes:
        check_timezone(changes["timezone"])
    if "name" in changes and not str(changes["name"]).strip():
        raise ValidationFailed("The program needs a name.", errors={"name": ["Required."]})
    diff = {}
    for field, value in changes.items():
        if not hasattr(Program, field) or field in ("id", "updated_at"):
            raise ValidationFailed(f"Unknown setting {field!r}.")
        old = getattr(program, field)
        if old != value:
            diff[field] = {"old": old, "new": value}
            setattr(program, field, value)
    session.flush()
    if diff:
        record_event(
            session,
            actor=actor,
            action="program.update",
            object_type="program",
            object_id="1",
            data=diff,
        )
    return program
