"""Builders shared by the rules engine tests: complete facts and rule data with defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rules import purchase_facts

PARIS_NOON = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Paris


def basket_facts(
    *,
    items: list[dict[str, Any]] | None = None,
    total_minor: int = 4250,
    merchant_id: str = "mer_a",
    occurred_at: datetime = PARIS_NOON,
    timezone: str = "Europe/Paris",
    **member: Any,
) -> dict[str, Any]:
    """Facts of a basket and a member; member facts default to an ordinary silver member."""
    if items is None:
        items = [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450}]
    facts = purchase_facts(
        items=items,
        total_minor=total_minor,
        currency="EUR",
        merchant_id=merchant_id,
        store_id="sto_1",
        occurred_at=occurred_at,
        timezone=timezone,
    )
    facts.update(
        {
            "member.tier": "silver",
            "member.purchase_count": 5,
            "member.days_since_enrolment": 100,
            "member.days_since_last_purchase": 7,
            "member.lifecycle_stage": "growth",
            "member.birthday_month": False,
        }
    )
    facts.update({f"member.{k}": v for k, v in member.items()})
    return facts


def rule(rule_id: str, effect: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Rule data as the API would store it, with an always-true condition and a 10-point bonus."""
    return {
        "id": rule_id,
        "name": fields.pop("name", f"Rule {rule_id}"),
        "effect": effect or {"type": "bonus", "points": 10},
        **fields,
    }


def per_amount(points: int = 1, per_minor: int = 100) -> dict[str, Any]:
    return {"type": "per_amount", "points": points, "per_minor": per_minor}


def multiplier(percent: int) -> dict[str, Any]:
    return {"type": "multiplier", "percent": percent}


def bonus(points: int) -> dict[str, Any]:
    return {"type": "bonus", "points": points}
