"""Merchant, store and terminal factories."""

from __future__ import annotations

import hashlib
import hmac
import time

from loyalty.actors import cli_actor
from tests.factories import make_key, unique


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


def make_application(session, *, name: str | None = None):
    """A pending application."""
    from loyalty.merchants.services import submit_application

    application = submit_application(
        session,
        name=name or unique("Applicant "),
        contact_email=f"{unique('owner')}@example.com",
        website="https://shop.example.com",
        category="coffee",
    )
    session.commit()
    return application


def make_merchant_key(session, merchant_id: str) -> str:
    """A merchant key of that merchant; returns its secret."""
    return make_key(session, "merchant", merchant_id=merchant_id)


def make_store(session, merchant_id: str, *, name: str | None = None, timezone: str = "Europe/Lisbon"):
    from loyalty.merchants.services import add_store

    store = add_store(
        session, merchant_id=merchant_id, name=name or unique("Store "), timezone=timezone, actor=cli_actor()
    )
    session.commit()
    return store


def make_terminal(session, store_id: str, *, name: str | None = None):
    """A terminal; returns ``(terminal, api_key, signing_secret)``."""
    from loyalty.merchants.services import add_terminal

    terminal, api_key, signing_secret = add_terminal(
        session, store_id=store_id, name=name or unique("Till "), actor=cli_actor()
    )
    session.commit()
    return terminal, api_key, signing_secret


def make_till(session, *, require_signed_requests: bool = True):
    """A merchant with one store and one terminal: ``(merchant, store, terminal, api_key, signing_secret)``."""
    merchant = make_merchant(session, require_signed_requests=require_signed_requests)
    store = make_store(session, merchant.id)
    terminal, api_key, signing_secret = make_terminal(session, store.id)
    return merchant, store, terminal, api_key, signing_secret


def signed_headers(
    secret: str, method: str, path: str, body: bytes = b"", *, timestamp: int | str | None = None
) -> dict[str, str]:
    """The X-Loyalty-Timestamp and X-Loyalty-Signature headers, computed as a till does (API.md)."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    message = f"{timestamp}.{method}.{path}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"X-Loyalty-Timestamp": timestamp, "X-Loyalty-Signature": f"v1={digest}"}


__all__ = [
    "cli_actor",
    "make_application",
    "make_merchant",
    "make_merchant_key",
    "make_store",
    "make_terminal",
    "make_till",
    "signed_headers",
]
