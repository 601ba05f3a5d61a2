"""The till's look-up: a member by card, email or phone, with their tier standing, in one statement.

A till looks a member up before nearly every sale, so the member's row, the
tier list and the member's qualifying points are read together, as plain rows
(no ORM objects: nothing here is changed). The qualifying sum finds the member
again by the identifier in a subquery of its own, which does not depend on the
joined tier rows, so the database computes it once (an InitPlan in PostgreSQL),
not once per tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select, true
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased

from loyalty.db import utcnow
from loyalty.members.models import Member
from loyalty.members.services import CLOSED, identifier_of
from loyalty.program.services import get_program
from loyalty.tiers.models import Tier
from loyalty.tiers.services import TierStanding, qualifying_sum, standing_of, window_start


class TierLevel(NamedTuple):
    """A tier as the standing reads it."""

    code: str
    name: str
    rank: int
    qualifying_points: int


@dataclass(frozen=True)
class LookedUp:
    """A member's row (read-only: the ``Member`` columns in ``COLUMNS`` as attributes) and tier standing (None
    without tiers)."""

    member: Row
    standing: TierStanding | None


# Only what the answer reads: the member's body (api.members.schemas.member_body), the balance
# (points_balance, pending_until) and the standing (tier_code, tier_grace_until). Each column costs
# its description from the driver on every look-up.
COLUMNS = (
    "id",
    "card_number",
    "email",
    "phone",
    "name",
    "locale",
    "status",
    "enrolled_at",
    "lifecycle_stage",
    "marketing_opt_in",
    "referral_code",
    "birth_month",
    "points_balance",
    "pending_until",
    "tier_code",
    "tier_grace_until",
)


def _statement(column: str) -> Select:
    again = aliased(Member)
    member_id = select(again.id).where(getattr(again, column) == bindparam("value")).scalar_subquery()
    return (
        select(
            *(Member.__table__.c[name] for name in COLUMNS),
            Tier.code.label("level_code"),
            Tier.name.label("level_name"),
            Tier.rank.label("level_rank"),
            Tier.qualifying_points.label("level_points"),
            qualifying_sum(member_id, bindparam("since")).scalar_subquery().label("qualifying_points"),
        )
        .select_from(Member)
        .outerjoin(Tier, true())
        .where(getattr(Member, column) == bindparam("value"), Member.status != CLOSED)
        .order_by(Tier.rank)
    )


# Built once: a till runs one of them for nearly every sale.
_LOOKUPS = {column: _statement(column) for column in ("card_number", "email", "phone")}


def look_up_member(
    session: Session,
    *,
    card_number: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    now: datetime | None = None,
) -> LookedUp | None:
    """The open member with that identifier and their tier standing, or None; a malformed identifier is a
    ``ValidationFailed``."""
    identifier = identifier_of(card_number=card_number, email=email, phone=phone)
    if identifier is None:
        return None
    column, value = identifier
    since = window_start(get_program(session), now or utcnow())
    rows = session.connection().execute(_LOOKUPS[column], {"value": value, "since": since}).all()
    if not rows:
        return None
    member = rows[0]
    tiers: list[Any] = [
        TierLevel(row.level_code, row.level_name, row.level_rank, row.level_points)
        for row in rows
        if row.level_code is not None
    ]
    if not tiers:
        return LookedUp(member=member, standing=None)
    # PostgreSQL sums BIGINT as NUMERIC: back to int. More returned than earned counts as none.
    points = max(int(member.qualifying_points or 0), 0)
    return LookedUp(member=member, standing=standing_of(tiers, member, points))
