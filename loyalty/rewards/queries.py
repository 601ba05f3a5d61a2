"""Reading redemptions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.errors import NotFound
from loyalty.pagination import Page, paginate
from loyalty.rewards.models import Redemption, Reward
from loyalty.text import usable_id


def _sees_redemption(session: Session, actor: Actor, redemption: Redemption) -> bool:
    if actor.role not in (Role.MERCHANT, Role.TERMINAL):
        return True
    reward_merchant = session.get(Reward, redemption.reward_id).merchant_id if redemption.reward_id else None
    return actor.merchant_id in (redemption.merchant_id, redemption.used_merchant_id, reward_merchant)


def get_redemption(session: Session, redemption_id: str, *, actor: Actor, for_update: bool = False) -> Redemption:
    """A redemption the actor may see: a merchant's and a terminal's keys see those of their merchant.

    That is, made or used at its stores, or of one of its rewards; others are not found.
    """
    redemption = None
    if usable_id(redemption_id):
        options = {"with_for_update": True, "populate_existing": True} if for_update else {}
        redemption = session.get(Redemption, redemption_id, **options)
    if redemption is None or not _sees_redemption(session, actor, redemption):
        raise NotFound("No such redemption.")
    return redemption


def list_member_redemptions(
    session: Session,
    *,
    member_id: str,
    limit: int,
    cursor: str | None,
    kind: str | None = None,
    status: str | None = None,
) -> Page[Redemption]:
    """A member's redemptions, newest first, optionally of one kind or status."""
    query = select(Redemption).where(Redemption.member_id == member_id)
    if kind:
        query = query.where(Redemption.kind == kind)
    if status:
        query = query.where(Redemption.status == status)
    return paginate(session, query, Redemption.id, limit=limit, cursor=cursor)
