"""Tier helpers: a ladder of tiers, and points given straight to a member's ledger."""

from __future__ import annotations

import copy
from datetime import datetime

from loyalty.actors import cli_actor

LADDER = [
    {"code": "blue", "name": "Blue", "rank": 0, "qualifying_points": 0, "benefits": {}},
    {"code": "silver", "name": "Silver", "rank": 10, "qualifying_points": 1000, "benefits": {"bonus_percent": 10}},
    {"code": "gold", "name": "Gold", "rank": 20, "qualifying_points": 5000, "benefits": {"bonus_percent": 25}},
]


def ladder(*, base: int = 0) -> list[dict]:
    """Blue, Silver and Gold; ``base`` is what Blue needs."""
    tiers = copy.deepcopy(LADDER)
    tiers[0]["qualifying_points"] = base
    return tiers


def set_tiers(session, tiers: list[dict] | None = None) -> None:
    from loyalty.tiers.services import replace_tiers

    replace_tiers(session, tiers=ladder() if tiers is None else tiers, actor=cli_actor())
    session.commit()


def give_points(session, member_id: str, points: int, *, kind: str = "earn", now: datetime | None = None):
    """Add (or, with a negative number, take) points on the member's ledger, as an entry of ``kind``."""
    from loyalty.db import utcnow
    from loyalty.ledger import services as ledger

    member = ledger.lock_member(session, member_id)
    context = ledger.EntryContext(actor=cli_actor())
    when = now or utcnow()
    if points > 0:
        entry = ledger.add_points(
            session, member, kind=kind, points=points, available_at=when, expires_at=None, context=context, now=when
        )
    else:
        entry = ledger.take_points(
            session, member, kind=kind, points=-points, context=context, may_go_negative=True, now=when
        ).entry
    session.commit()
    return entry
