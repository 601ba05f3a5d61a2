"""Connectors: a merchant's commercial POS joining by webhook, its secrets, and the deliveries it sent.

A connector names the vendor, the secret the vendor signs its webhooks with
(write-only: Shopify's and Square's are the vendor's; Odoo's is made here and
shown once), and which store each of the vendor's shops or locations is.
Each accepted delivery is stored once, keyed by the vendor's own event id, and
worked on by a background job; what became of it is kept for the merchant
(``deliveries.py``).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.connectors.models import Connector, ConnectorSecret
from loyalty.db import new_id, utcnow
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.merchants.checks import clean_text, get_merchant, get_store, require_active, require_manager
from loyalty.pagination import Page, paginate
from loyalty.text import usable_id

VENDORS = ("shopify", "square", "odoo")
# Odoo has no webhook of its own: the secret of our signing scheme is made here.
GENERATED_SECRET_VENDORS = frozenset({"odoo"})
STATUSES = ("active", "disabled")
SIGNING = "signing"
API_TOKEN = "api_token"  # noqa: S105 (a kind of secret, not a secret)
ODOO_SECRET_PREFIX = "lcs_"  # noqa: S105 (a recognisable prefix, not a secret)
MAX_GRACE_HOURS = 24 * 30
MAX_LOCATIONS = 500


SQUARE_ENVIRONMENTS = ("production", "sandbox")
SETTINGS_BY_VENDOR: dict[str, frozenset[str]] = {
    "shopify": frozenset(),
    "square": frozenset({"environment", "notification_url"}),
    "odoo": frozenset(),
}


def connector_actor(connector: Connector) -> Actor:
    """Who records the sales a connector delivers: the system, on behalf of the connector's merchant."""
    return Actor(kind="system", name=f"{connector.vendor} connector {connector.id}", merchant_id=connector.merchant_id)


# ---- input --------------------------------------------------------------------------------------


def _check_vendor(vendor: Any) -> str:
    if vendor not in VENDORS:
        raise ValidationFailed(
            f"The vendor is one of {', '.join(VENDORS)}.", errors={"vendor": [f"One of {', '.join(VENDORS)}."]}
        )
    return vendor


def _check_secret(value: Any, field: str) -> str:
    text = clean_text(value, field, max_length=500, required=True)
    if len(text) < 8:
        raise ValidationFailed(
            f"The {field.replace('_', ' ')} is too short.", errors={field: ["At least 8 characters."]}
        )
    return text


def _check_store(session: Session, store_id: Any, merchant_id: str, field: str, actor: Actor) -> str:
    if not isinstance(store_id, str) or not usable_id(store_id):
        raise ValidationFailed("No such store.", errors={field: ["Not a store of this merchant."]})
    try:
        store = get_store(session, store_id, actor=actor)
    except NotFound:
        store = None
    if store is None or store.merchant_id != merchant_id:
        raise ValidationFailed(
            "That store is not one of the merchant's.", errors={field: ["Not a store of this merchant."]}
        )
    return store.id


def _check_locations(session: Session, locations: Any, merchant_id: str, actor: Actor) -> dict[str, str]:
    if not isinstance(locations, dict):
        raise ValidationFailed(
            "Locations map the vendor's location ids to stores.", errors={"locations": ["An object."]}
        )
    if len(locations) > MAX_LOCATIONS:
        raise ValidationFailed(f"At most {MAX_LOCATIONS} locations.", errors={"locations": ["Too many."]})
    checked = {}
    for key, store_id in locations.items():
        name = clean_text(key, "locations", max_length=200, required=True)
        checked[name] = _check_store(session, store_id, merchant_id, "locations", actor)
    return checked


def _check_settings(vendor: str, settings: Any) -> dict[str, str]:
    if not isinstance(settings, dict):
        raise ValidationFailed("Settings are an object.", errors={"settings": ["An object."]})
    unknown = set(settings) - SETTINGS_BY_VENDOR[vendor]
    if unknown:
        raise ValidationFailed(
            f"Unknown {vendor} settings: {', '.join(sorted(unknown))}.", errors={"settings": ["Unknown setting."]}
        )
    checked: dict[str, str] = {}
    if "environment" in settings:
        if settings["environment"] not in SQUARE_ENVIRONMENTS:
            raise ValidationFailed(
                "The Square environment is production or sandbox.",
                errors={"settings": ["environment: production or sandbox."]},
            )
        checked["environment"] = settings["environment"]
    if "notification_url" in settings:
        url = clean_text(settings["notification_url"], "settings", max_length=500, required=True)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ValidationFailed(
                "The notification URL is the exact http(s) URL entered in Square.",
                errors={"settings": ["notification_url: an http(s) URL."]},
            )
        checked["notification_url"] = url
    return checked


def _add_secret(session: Session, connector_id: str, kind: str, secret: str) -> None:
    session.add(ConnectorSecret(connector_id=connector_id, kind=kind, secret_encrypted=crypto.encrypt(secret)))


def valid_secrets(session: Session, connector_id: str, kind: str, now: datetime) -> list[ConnectorSecret]:
    """The connector's secrets of ``kind`` that have not expired at ``now``, newest first."""
    return list(
        session.scalars(
            select(ConnectorSecret)
            .where(
                ConnectorSecret.connector_id == connector_id,
                ConnectorSecret.kind == kind,
                or_(ConnectorSecret.expires_at.is_(None), ConnectorSecret.expires_at > now),
            )
            .order_by(ConnectorSecret.id.desc())
        )
    )


def _new_signing_secret(vendor: str, given: Any) -> tuple[str, str | None]:
    """The signing secret to keep, and the one to show (only when made here)."""
    if vendor in GENERATED_SECRET_VENDORS:
        if given is not None:
            raise ValidationFailed(
                f"The {vendor} signing secret is made by the service; leave signing_secret out.",
                errors={"signing_secret": ["Made by the service."]},
            )
        secret = ODOO_SECRET_PREFIX + secrets.token_urlsafe(32)
        return secret, secret
    if given is None:
        raise ValidationFailed(
            f"Give the secret {vendor} signs its webhooks with.", errors={"signing_secret": ["Required."]}
        )
    return _check_secret(given, "signing_secret"), None


# ---- connectors ---------------------------------------------------------------------------------


def create_connector(
    session: Session,
    *,
    merchant_id: str,
    vendor: str,
    name: str,
    signing_secret: str | None = None,
    api_token: str | None = None,
    account: str | None = None,
    default_store_id: str | None = None,
    locations: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    actor: Actor,
) -> tuple[Connector, str | None]:
    """Connect a merchant's POS; returns it with the signing secret when the service made it (shown once)."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    require_manager(actor, merchant.id)
    require_active(merchant)
    vendor = _check_vendor(vendor)
    secret, shown = _new_signing_secret(vendor, signing_secret)
    connector = Connector(
        id=new_id("con"),
        merchant_id=merchant.id,
        vendor=vendor,
        name=clean_text(name, "name", max_length=200, required=True),
        status="active",
        account=clean_text(account, "account", max_length=200, required=False),
        default_store_id=(
            _check_store(session, default_store_id, merchant.id, "default_store_id", actor)
            if default_store_id
            else None
        ),
        locations=_check_locations(session, locations or {}, merchant.id, actor),
        settings=_check_settings(vendor, settings or {}),
    )
    session.add(connector)
    session.flush()
    _add_secret(session, connector.id, SIGNING, secret)
    if api_token is not None:
        _add_secret(session, connector.id, API_TOKEN, _check_secret(api_token, "api_token"))
    session.flush()
    record_event(
        session,
        actor=actor,
        action="connector.create",
        object_type="connector",
        object_id=connector.id,
        merchant_id=merchant.id,
        data={"vendor": vendor, "name": connector.name, "api_token": api_token is not None},
    )
    return connector, shown


def get_connector(session: Session, connector_id: str, *, actor: Actor) -> Connector:
    """A connector the actor may see; another merchant's is not found."""
    connector = session.get(Connector, connector_id) if usable_id(connector_id) else None
    if connector is None or not actor.sees_merchant(connector.merchant_id):
        raise NotFound("No such connector.")
    return connector


def list_connectors(
    session: Session, *, actor: Actor, limit: int, cursor: str | None, merchant_id: str | None = None
) -> Page[Connector]:
    """Connectors, newest first; a merchant's key sees its own only."""
    query = select(Connector)
    if actor.merchant_id is not None:
        query = query.where(Connector.merchant_id == actor.merchant_id)
    if merchant_id:
        query = query.where(Connector.merchant_id == merchant_id)
    return paginate(session, query, Connector.id, limit=limit, cursor=cursor)


UPDATABLE = frozenset({"name", "status", "account", "default_store_id", "locations", "settings", "api_token"})


def update_connector(session: Session, *, connector_id: str, changes: dict[str, Any], actor: Actor) -> Connector:
    """Rename, disable or enable a connector, change its store mapping, settings or API token (audited)."""
    connector = get_connector(session, connector_id, actor=actor)
    require_manager(actor, connector.merchant_id)
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    if "name" in changes:
        connector.name = clean_text(changes["name"], "name", max_length=200, required=True)
    if "status" in changes:
        if changes["status"] not in STATUSES:
            raise ValidationFailed("Status is active or disabled.", errors={"status": ["One of active, disabled."]})
        connector.status = changes["status"]
    if "account" in changes:
        connector.account = clean_text(changes["account"], "account", max_length=200, required=False)
    if "default_store_id" in changes:
        store_id = changes["default_store_id"]
        connector.default_store_id = (
            _check_store(session, store_id, connector.merchant_id, "default_store_id", actor) if store_id else None
        )
    if "locations" in changes:
        connector.locations = _check_locations(session, changes["locations"], connector.merchant_id, actor)
    if "settings" in changes:
        connector.settings = _check_settings(connector.vendor, changes["settings"])
    if "api_token" in changes:
        now = utcnow()
        for old in valid_secrets(session, connector.id, API_TOKEN, now):
            old.expires_at = now
        if changes["api_token"] is not None:
            _add_secret(session, connector.id, API_TOKEN, _check_secret(changes["api_token"], "api_token"))
    connector.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        actor=actor,
        action="connector.update",
        object_type="connector",
        object_id=connector.id,
        merchant_id=connector.merchant_id,
        data={"fields": sorted(changes)},
    )
    return connector


def rotate_connector_secret(
    session: Session, *, connector_id: str, signing_secret: str | None, grace_hours: int, actor: Actor
) -> tuple[str | None, datetime]:
    """A new signing secret; the old ones stay valid for ``grace_hours`` (0 ends them at once).

    Returns the new secret when the service made it (shown once), and until when the old ones are accepted.
    """
    if isinstance(grace_hours, bool) or not isinstance(grace_hours, int) or not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise ValidationFailed(
            f"The grace period is 0 to {MAX_GRACE_HOURS} hours.", errors={"grace_hours": ["Out of range."]}
        )
    connector = get_connector(session, connector_id, actor=actor)
    require_manager(actor, connector.merchant_id)
    if connector.status != "active":
        raise InvalidState("The connector is disabled.")
    secret, shown = _new_signing_secret(connector.vendor, signing_secret)
    now = utcnow()
    valid_until = now + timedelta(hours=grace_hours)
    for old in valid_secrets(session, connector.id, SIGNING, now):
        if old.expires_at is None or old.expires_at > valid_until:
            old.expires_at = valid_until
    _add_secret(session, connector.id, SIGNING, secret)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="connector.rotate_secret",
        object_type="connector",
        object_id=connector.id,
        merchant_id=connector.merchant_id,
        data={"grace_hours": grace_hours, "previous_valid_until": valid_until.isoformat()},
    )
    return shown, valid_until
