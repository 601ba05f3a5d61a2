"""Merchant, store and terminal factories."""

from __future__ import annotations

from loyalty.actors import cli_actor
from tests.factories import unique


def make_merchant(session, *, name: str | None = None, require_signed_requests: bool = True):
    """An approved merchant."""
    from loyalty.merchants.models import Merchant

    merchant = Merchant(
        name=name or unique("Merchant "),
        contact_email=f"{unique('owner')}@example.com",
        require_signed_requests=require_signed_requests,
    )
    session.add(merchant)
    session.commit()
    return merchant


__all__ = ["cli_actor", "make_merchant"]
