"""Typed results of the till client: plain dataclasses built from the service's JSON.

Each keeps the answer it was built from in ``raw`` (not compared, not printed),
so a field the service adds later is never lost to the till.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int

    @classmethod
    def from_json(cls, data: dict | None) -> Balance | None:
        if not data:
            return None
        return cls(available=int(data["available"]), pending=int(data["pending"]))


@dataclass(frozen=True)
class BreakdownLine:
    rule_id: str | None
    rule_name: str
    points: int


def _breakdown(lines: list | None) -> list[BreakdownLine]:
    return [
        BreakdownLine(rule_id=line.get("rule_id"), rule_name=line.get("rule_name", ""), points=int(line["points"]))
        for line in lines or []
    ]


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    qualifying_points: int | None = None
    next_tier: str | None = None
    points_to_next: int | None = None

    @classmethod
    def from_json(cls, data: dict | None) -> Tier | None:
        if not data or not data.get("code"):
            return None
        progress = data.get("progress") or {}
        return cls(
            code=data["code"],
            name=data.get("name", data["code"]),
            qualifying_points=progress.get("qualifying_points"),
            next_tier=progress.get("next_tier"),
            points_to_next=progress.get("points_to_next"),
        )


@dataclass(frozen=True)
class Member:
    id: str
    card_number: str | None
    email: str | None
    phone: str | None
    name: str | None
    locale: str | None
    status: str
    balance: Balance | None
    tier: Tier | None
    lifecycle_stage: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Member:
        return cls(
            id=data["id"],
            card_number=data.get("card_number"),
            email=data.get("email"),
            phone=data.get("phone"),
            name=data.get("name"),
            locale=data.get("locale"),
            status=data.get("status", "active"),
            balance=Balance.from_json(data.get("balance")),
            tier=Tier.from_json(data.get("tier")),
            lifecycle_stage=data.get("lifecycle_stage"),
            raw=data,
        )


@dataclass(frozen=True)
class Quote:
    points: int
    breakdown: list[BreakdownLine]

    @classmethod
    def from_json(cls, data: dict) -> Quote:
        return cls(points=int(data["points"]), breakdown=_breakdown(data.get("breakdown")))


@dataclass(frozen=True)
class PurchaseReceipt:
    """What the till prints for a sale.

    ``points_pending_delivery`` is true when the sale waits in the till's queue
    (the service could not be reached): the receipt says "points pending" and
    the fields the service fills are None until it is delivered.
    """

    external_id: str
    points_pending_delivery: bool
    id: str | None = None
    member_id: str | None = None
    points_awarded: int | None = None
    points_status: str | None = None
    available_at: str | None = None
    breakdown: list[BreakdownLine] = field(default_factory=list)
    balance: Balance | None = None
    tier: dict | None = None
    claim_code: str | None = None
    replayed: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict, *, replayed: bool = False) -> PurchaseReceipt:
        return cls(
            external_id=data["external_id"],
            points_pending_delivery=False,
            id=data.get("id"),
            member_id=data.get("member_id"),
            points_awarded=data.get("points_awarded"),
            points_status=data.get("points_status"),
            available_at=data.get("available_at"),
            breakdown=_breakdown(data.get("breakdown")),
            balance=Balance.from_json(data.get("balance")),
            tier=data.get("tier"),
            claim_code=data.get("claim_code"),
            replayed=replayed,
            raw=data,
        )

    @classmethod
    def pending(cls, external_id: str) -> PurchaseReceipt:
        return cls(external_id=external_id, points_pending_delivery=True)


@dataclass(frozen=True)
class ReturnReceipt:
    external_id: str
    points_pending_delivery: bool
    points_reversed: int | None = None
    balance: Balance | None = None
    replayed: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict, *, external_id: str, replayed: bool = False) -> ReturnReceipt:
        return cls(
            external_id=data.get("external_id", external_id),
            points_pending_delivery=False,
            points_reversed=data.get("points_reversed"),
            balance=Balance.from_json(data.get("balance")),
            replayed=replayed,
            raw=data,
        )

    @classmethod
    def pending(cls, external_id: str) -> ReturnReceipt:
        return cls(external_id=external_id, points_pending_delivery=True)


@dataclass(frozen=True)
class Redemption:
    """A reward's redemption: issued by ``redeem_reward``, or marked used by ``use_reward_code``."""

    id: str
    code: str | None
    status: str
    points: int
    member_id: str | None = None
    reward_id: str | None = None
    expires_at: str | None = None
    balance: Balance | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Redemption:
        return cls(
            id=data["id"],
            code=data.get("code"),
            status=data["status"],
            points=int(data.get("points") or 0),
            member_id=data.get("member_id"),
            reward_id=data.get("reward_id"),
            expires_at=data.get("expires_at"),
            balance=Balance.from_json(data.get("balance")),
            raw=data,
        )


@dataclass(frozen=True)
class Payment:
    """Points taken as payment at the till, worth ``value_minor`` in ``currency``."""

    id: str
    points: int
    value_minor: int
    currency: str
    balance: Balance | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Payment:
        return cls(
            id=data["id"],
            points=int(data["points"]),
            value_minor=int(data["value_minor"]),
            currency=data["currency"],
            balance=Balance.from_json(data.get("balance")),
            raw=data,
        )


@dataclass(frozen=True)
class QueuedRequest:
    """One row of the till's queue, as ``TillClient.queue()`` and ``loyalty-pos queue`` show it."""

    seq: int
    kind: str
    external_id: str
    status: str  # pending, delivered, rejected
    attempts: int
    next_attempt_at: float | None
    created_at: float
    delivered_at: float | None
    http_status: int | None
    reason: str | None
    last_error: str | None
