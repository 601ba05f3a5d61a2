"""What a vendor's payload maps to: the input of a purchase or a return, as ``POST /purchases``
and ``POST /purchases/{id}/returns`` take it, or nothing to record and why.

The mappings in each vendor's ``mapping.py`` build these from the vendor's
documented payloads and nothing else: no database, no network, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class MappingError(ValueError):
    """A payload that does not have the vendor's documented shape (a field missing or malformed)."""


@dataclass(frozen=True)
class Customer:
    """How the vendor names the shopper; each is tried in turn to find the member (none: anonymous)."""

    card_number: str | None = None
    email: str | None = None
    phone: str | None = None

    def identifiers(self) -> list[tuple[str, str]]:
        return [
            (name, value)
            for name, value in (("card_number", self.card_number), ("email", self.email), ("phone", self.phone))
            if value
        ]


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    unit_price_minor: int
    category: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "category": self.category,
            "quantity": self.quantity,
            "unit_price_minor": self.unit_price_minor,
        }


@dataclass(frozen=True)
class PurchaseInput:
    """A sale: ``external_id`` comes from the vendor's order id, so every event about one order is one purchase."""

    external_id: str
    location: str | None  # the vendor's shop or location id, mapped to a store by the connector
    occurred_at: datetime
    currency: str
    total_minor: int
    items: tuple[Item, ...] = ()
    customer: Customer = field(default_factory=Customer)

    def body(self) -> dict[str, Any]:
        """The purchase as ``POST /purchases`` takes it (without the member, which the job looks up)."""
        return {
            "external_id": self.external_id,
            "occurred_at": self.occurred_at.isoformat(),
            "currency": self.currency,
            "total_minor": self.total_minor,
            "items": [item.body() for item in self.items],
        }


@dataclass(frozen=True)
class ReturnInput:
    """A refund: a return of the purchase recorded for the vendor's original order, by amount or by items."""

    external_id: str
    purchase_external_id: str
    amount_minor: int | None = None
    items: tuple[tuple[str, int], ...] | None = None  # (sku, quantity)

    def body(self) -> dict[str, Any]:
        """The return as ``POST /purchases/{id}/returns`` takes it."""
        body: dict[str, Any] = {"external_id": self.external_id}
        if self.items is not None:
            body["items"] = [{"sku": sku, "quantity": quantity} for sku, quantity in self.items]
        else:
            body["amount_minor"] = self.amount_minor
        return body


@dataclass(frozen=True)
class Skip:
    """Nothing to record, and why (``reason`` is a stable snake_case code)."""

    reason: str
    detail: str = ""


Mapped = PurchaseInput | ReturnInput | Skip


def text(value: Any, what: str, *, longest: int = 100) -> str:
    """A payload's id or code as text (vendors send ids as numbers or strings)."""
    if isinstance(value, bool) or value is None or value == "":
        raise MappingError(f"{what} is missing.")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise MappingError(f"{what} is not text.")
    value = value.strip()
    if not value or len(value) > longest or not value.isprintable():
        raise MappingError(f"{what} is not a usable id.")
    return value


def optional_text(value: Any, *, longest: int = 320) -> str | None:
    """Text a payload may leave out (null, false in Odoo, or empty)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= longest and value.isprintable() else None


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{what} is not an object.")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"{what} is not a list.")
    return value


def timestamp(value: Any, what: str) -> datetime:
    """An ISO 8601 timestamp with an offset (Shopify, Square)."""
    if not isinstance(value, str):
        raise MappingError(f"{what} is missing.")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{what} is not an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        raise MappingError(f"{what} has no offset.")
    return moment
