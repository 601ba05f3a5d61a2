"""Lookups and checks shared by the merchant services: who sees what, who may change it, clean input."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.merchants.models import Merchant, Store
from loyalty.text import has_control_characters, usable_id


def clean_text(value: Any, field: str, *, max_length: int, required: bool, multiline: bool = False) -> str | None:
    """Stripped text, None when empty and optional; ``ValidationFailed`` otherwise."""
    label = field.replace("_", " ")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"The {label} is required.", errors={field: ["Required."]})
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"The {label} must be text.", errors={field: ["Not text."]})
    value = value.strip()
    if has_control_characters(value, multiline=multiline):
        raise ValidationFailed(f"The {label} contains control characters.", errors={field: ["Control characters."]})
    if len(value) > max_length:
        raise ValidationFailed(
            f"The {label} is longer than {max_length} characters.",
            errors={field: [f"Longer than {max_length} characters."]},
        )
    return value


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only the program operator may do that.")


def require_manager(actor: Actor, merchant_id: str) -> None:
    """The operator, or the merchant itself, manages a merchant's stores and terminals."""
    if actor.is_admin:
        return
    if actor.role is Role.MERCHANT and actor.merchant_id == merchant_id:
        return
    raise Forbidden("Only the operator or the merchant itself may change this.")


def require_active(merchant: Merchant) -> None:
    if merchant.status != "active":
        raise InvalidState("The merchant is suspended; reactivate it first.")


def get_merchant(session: Session, merchant_id: str, *, actor: Actor) -> Merchant:
    """A merchant the actor may see; another merchant's is not found."""
    merchant = session.get(Merchant, merchant_id) if usable_id(merchant_id) else None
    if merchant is None or not actor.sees_merchant(merchant.id):
        raise NotFound("No such merchant.")
    return merchant


def get_store(session: Session, store_id: str, *, actor: Actor) -> Store:
    """A store the actor may see; another merchant's (or, for a terminal, another store) is not found."""
    store = session.get(Store, store_id) if usable_id(store_id) else None
    if store is None or not actor.sees_merchant(store.merchant_id):
        raise NotFound("No such store.")
    if actor.role is Role.TERMINAL and actor.store_id != store.id:
        raise NotFound("No such store.")
    return store
