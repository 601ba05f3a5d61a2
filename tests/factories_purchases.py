"""Purchase helpers: a rule set and a basket, recorded through the service as a till would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyalty.actors import cli_actor
from rules import RuleSet
from tests.factories import unique

BASE_RULE = {
    "id": "rul_base",
    "name": "One point per euro",
    "priority": 0,
    "effect": {"type": "per_amount", "points": 1, "per_minor": 100},
}


def ruleset(*rules: dict[str, Any], version: int = 1) -> RuleSet:
    """Active rules for scoring; the base rate alone when none are given."""
    return RuleSet.build(rules or [BASE_RULE], version=version)


def basket(total_minor: int = 4250, **overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": unique("R-"),
        "occurred_at": datetime.now(UTC),
        "currency": "EUR",
        "total_minor": total_minor,
        "items": [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": total_minor}],
    }
    return body | overrides


def buy(session, store, *, member=None, rules: RuleSet | None = None, fingerprint: str | None = None, **body):
    """Record a purchase at ``store`` for ``member`` (or anonymously) and commit it; returns the outcome."""
    from loyalty.purchases.services import record_purchase

    data = basket(**body)
    outcome = record_purchase(
        session,
        store_id=store.id,
        terminal_id=None,
        external_id=data["external_id"],
        member_ref={"member_id": member.id} if member is not None else None,
        occurred_at=data["occurred_at"],
        currency=data["currency"],
        total_minor=data["total_minor"],
        items=data["items"],
        fingerprint=fingerprint or data["external_id"],
        ruleset=rules or ruleset(),
        actor=cli_actor(),
    )
    session.commit()
    return outcome
