"""Partner merchants: applications, approval, stores, terminals and request signing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.errors import NotFound
from loyalty.merchants.models import Merchant


def get_merchant(session: Session, merchant_id: str, *, actor: Actor) -> Merchant:
    """A merchant the actor may see; another merchant's is not found."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None or not actor.sees_merchant(merchant.id):
        raise NotFound("No such merchant.")
    return merchant


def check_terminal_request(
    session: Session,
    *,
    terminal_id: str | None,
    merchant_id: str | None,
    timestamp: str | None,
    signature: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
) -> None:
    """Verify a terminal request's signature (to be completed with terminals)."""
    return None
