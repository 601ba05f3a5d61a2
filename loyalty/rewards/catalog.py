"""The rewards catalog: what members can take for points, who writes it, and who sees it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import isoformat_z, utcnow
from loyalty.errors import Forbidden, NotFound, RewardUnavailable, ValidationFailed
from loyalty.merchants.services import get_merchant
from loyalty.pagination import Page, paginate
from loyalty.rewards.models import Reward
from loyalty.text import has_control_characters, usable_id

ACTIVE, ARCHIVED = "active", "archived"
STATUSES = (ACTIVE, ARCHIVED)
FIELDS = (
    "name",
    "description",
    "points_cost",
    "merchant_id",
    "stock",
    "per_member_limit",
    "min_tier",
    "starts_at",
    "ends_at",
    "valid_days",
)
WRITERS = (Role.ADMIN, Role.MARKETER, Role.MERCHANT)
DEFAULT_VALID_DAYS = 30
LARGEST = 10**12
# (field, longest, whether line breaks are allowed, required)
_TEXT = {"name": (200, False, True), "description": (2000, True, False), "min_tier": (32, False, False)}
# (field, smallest, largest)
_NUMBERS = {
    "points_cost": (1, LARGEST),
    "stock": (0, LARGEST),
    "per_member_limit": (1, 1_000_000),
    "valid_days": (1, 3650),
}


# ---- who sees what ---------------------------------------------------------------------------


def sees_reward(actor: Actor, reward: Reward) -> bool:
    """A merchant sees its own rewards; a terminal its merchant's and the operator's; staff all."""
    if actor.role is Role.MERCHANT:
        return reward.merchant_id is not None and reward.merchant_id == actor.merchant_id
    if actor.role is Role.TERMINAL:
        return reward.merchant_id is None or reward.merchant_id == actor.merchant_id
    return True


def get_reward(session: Session, reward_id: str, *, actor: Actor, for_update: bool = False) -> Reward:
    """A reward the actor may see; another merchant's is not found."""
    reward = None
    if usable_id(reward_id):
        options = {"with_for_update": True, "populate_existing": True} if for_update else {}
        reward = session.get(Reward, reward_id, **options)
    if reward is None or not sees_reward(actor, reward):
        raise NotFound("No such reward.")
    return reward


def unavailable_because(reward: Reward, now: datetime | None = None) -> str | None:
    """Why nobody can redeem the reward now, or None (per-member checks are the redemption's)."""
    now = now or utcnow()
    if reward.status != ACTIVE:
        return "The reward is no longer offered."
    if reward.starts_at is not None and now < reward.starts_at:
        return f"The reward is offered from {isoformat_z(reward.starts_at)}."
    if reward.ends_at is not None and now >= reward.ends_at:
        return f"The reward was offered until {isoformat_z(reward.ends_at)}."
    if reward.stock is not None and reward.issued >= reward.stock:
        return "The reward is out of stock."
    return None


def meets_min_tier(reward: Reward, tier_code: str | None, ranks: dict[str, int]) -> bool:
    """Whether a member of that tier may take the reward: their tier ranks at or above ``min_tier``.

    ``ranks`` maps each tier code to its rank. A ``min_tier`` that is no longer
    a tier of the program is reached only by a member who still holds that code.
    """
    if reward.min_tier is None:
        return True
    if tier_code is None:
        return False
    if reward.min_tier not in ranks or tier_code not in ranks:
        return reward.min_tier == tier_code
    return ranks[tier_code] >= ranks[reward.min_tier]


def check_available(reward: Reward, now: datetime | None = None) -> None:
    """``RewardUnavailable`` when nobody can redeem the reward now."""
    why = unavailable_because(reward, now)
    if why is not None:
        raise RewardUnavailable(why, errors={"reward_id": [why]})


# ---- checking --------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors={field: [message]})


def _checked(session: Session, data: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
    """The fields as they will be stored, or ``ValidationFailed`` naming the first at fault."""
    clean: dict[str, Any] = {}
    for field, (longest, multiline, required) in _TEXT.items():
        value = data.get(field)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            if required:
                raise _invalid(field, "Required.")
            clean[field] = "" if field == "description" else None
            continue
        if not isinstance(value, str):
            raise _invalid(field, "Not text.")
        if has_control_characters(value, multiline=multiline):
            raise _invalid(field, "Contains control characters.")
        if len(value) > longest:
            raise _invalid(field, f"Longer than {longest} characters.")
        clean[field] = value
    for field, (smallest, largest) in _NUMBERS.items():
        value = data.get(field)
        if value is None:
            if field == "points_cost":
                raise _invalid(field, "Required.")
            clean[field] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not smallest <= value <= largest:
            raise _invalid(field, f"A whole number from {smallest} to {largest}.")
        clean[field] = value
    for field in ("starts_at", "ends_at"):
        value = data.get(field)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise _invalid(field, "A timestamp with an offset.")
        clean[field] = value
    if clean["starts_at"] and clean["ends_at"] and clean["ends_at"] <= clean["starts_at"]:
        raise _invalid("ends_at", "Must be after starts_at.")
    merchant_id = data.get("merchant_id")
    if merchant_id is not None:
        try:
            get_merchant(session, merchant_id, actor=actor)
        except NotFound:
            # The same answer for a merchant that does not exist and for another merchant's id.
            raise _invalid("merchant_id", "No such merchant.") from None
    clean["merchant_id"] = merchant_id
    return clean


def _require_writer(actor: Actor) -> None:
    if actor.role not in WRITERS and not actor.is_admin:
        raise Forbidden("This key may not write rewards.")


def _audit(session: Session, reward: Reward, action: str, actor: Actor, data: dict[str, Any]) -> None:
    record_event(
        session,
        actor=actor,
        action=action,
        object_type="reward",
        object_id=reward.id,
        merchant_id=reward.merchant_id,
        data=data,
    )


def _jsonable(value: Any) -> Any:
    return isoformat_z(value) if isinstance(value, datetime) else value


# ---- writing ---------------------------------------------------------------------------------


def create_reward(session: Session, *, reward: Mapping[str, Any], actor: Actor) -> Reward:
    """Add a reward to the catalog, offered at once (within its window).

    A merchant's reward is always its own: ``merchant_id`` defaults to it, and
    an operator reward (``merchant_id`` null) is the operator's alone.
    """
    _require_writer(actor)
    data = dict(reward)
    unknown = set(data) - set(FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise _invalid(field, "Unknown field.")
    if actor.role is Role.MERCHANT:
        if "merchant_id" in data and data["merchant_id"] is None:
            raise Forbidden("Only the program operator offers operator rewards (merchant_id null).")
        data.setdefault("merchant_id", actor.merchant_id)
    data.setdefault("valid_days", DEFAULT_VALID_DAYS)
    clean = _checked(session, data, actor)
    row = Reward(**clean, issued=0, status=ACTIVE)
    session.add(row)
    session.flush()
    _audit(session, row, "reward.create", actor, {field: _jsonable(value) for field, value in clean.items()})
    return row


def update_reward(session: Session, *, reward_id: str, changes: Mapping[str, Any], actor: Actor) -> Reward:
    """Change a reward, archive it (``status: archived``) or offer it again; audited with old and new values.

    Redemptions already made keep their points and code whatever changes.
    """
    reward = get_reward(session, reward_id, actor=actor, for_update=True)
    _require_writer(actor)
    changes = dict(changes)
    status = changes.pop("status", reward.status)
    if status not in STATUSES:
        raise _invalid("status", "active or archived.")
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], "Unknown field.")
    if "merchant_id" in changes and changes["merchant_id"] != reward.merchant_id:
        raise _invalid("merchant_id", "Cannot change; offer a new reward for another merchant.")
    before = {field: getattr(reward, field) for field in FIELDS}
    clean = _checked(session, {**before, **changes}, actor)
    # The row is locked: no redemption can add to ``issued`` between this check and the commit.
    if clean["stock"] is not None and clean["stock"] < reward.issued:
        raise _invalid("stock", f"{reward.issued} are already issued; the stock cannot be lower.")
    diff = {
        field: {"old": _jsonable(before[field]), "new": _jsonable(clean[field])}
        for field in FIELDS
        if clean[field] != before[field]
    }
    if status != reward.status:
        diff["status"] = {"old": reward.status, "new": status}
    if not diff:
        return reward
    for field in FIELDS:
        setattr(reward, field, clean[field])
    reward.status = status
    reward.updated_at = utcnow()
    session.flush()
    _audit(session, reward, "reward.update", actor, diff)
    return reward


# ---- reading ---------------------------------------------------------------------------------


def list_rewards(
    session: Session,
    *,
    actor: Actor,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    merchant_id: str | None = None,
    available: bool | None = None,
    now: datetime | None = None,
) -> Page[Reward]:
    """Rewards, newest first.

    Without a key (the portal) only the rewards offered now; a merchant key its
    own; a terminal key its merchant's and the operator's. ``available`` keeps
    the rewards that can be redeemed now (or, false, those that cannot).
    """
    now = now or utcnow()
    query = select(Reward)
    if actor.role is Role.MERCHANT:
        query = query.where(Reward.merchant_id == actor.merchant_id)
    elif actor.role is Role.TERMINAL:
        query = query.where(or_(Reward.merchant_id.is_(None), Reward.merchant_id == actor.merchant_id))
    if actor.kind == "public":
        query = query.where(_offered(now))
    if status:
        if status not in STATUSES:
            raise _invalid("status", "active or archived.")
        query = query.where(Reward.status == status)
    if merchant_id:
        query = query.where(Reward.merchant_id == merchant_id)
    if available is not None:
        can = _offered(now) & (Reward.stock.is_(None) | (Reward.issued < Reward.stock))
        query = query.where(can if available else ~can)
    return paginate(session, query, Reward.id, limit=limit, cursor=cursor)


def _offered(now: datetime):
    return (
        (Reward.status == ACTIVE)
        & (Reward.starts_at.is_(None) | (Reward.starts_at <= now))
        & (Reward.ends_at.is_(None) | (Reward.ends_at > now))
    )
