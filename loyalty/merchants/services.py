"""Partner merchants: applications, approval, merchants and their stores.

Terminals live in ``terminals.py`` and request signing in ``signing.py``; both
are re-exported here, the area's one entry point for other areas and the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.actors import PUBLIC, Actor, Role
from loyalty.audit.services import record_event
from loyalty.contacts import normalise_email
from loyalty.db import utcnow
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.keys.services import create_key
from loyalty.merchants.checks import clean_text, require_active, require_admin, require_manager
from loyalty.merchants.checks import get_merchant as get_merchant
from loyalty.merchants.checks import get_store as get_store
from loyalty.merchants.models import Merchant, MerchantApplication, Store
from loyalty.merchants.terminals import add_terminal as add_terminal
from loyalty.merchants.terminals import get_terminal as get_terminal
from loyalty.merchants.terminals import list_terminals as list_terminals
from loyalty.merchants.terminals import revoke_terminal as revoke_terminal
from loyalty.merchants.terminals import rotate_terminal_secret as rotate_terminal_secret
from loyalty.pagination import Page, paginate
from loyalty.program.services import check_timezone
from loyalty.text import usable_id

APPLICATION_STATUSES = ("pending", "approved", "rejected")
MERCHANT_STATUSES = ("active", "suspended")
# What a merchant's own key may change; the rest is the operator's decision.
MERCHANT_EDITABLE_BY_MERCHANT = frozenset({"contact_email", "website"})
MERCHANT_EDITABLE_BY_ADMIN = frozenset(
    {"name", "contact_email", "website", "category", "require_signed_requests", "status"}
)


# ---- input shared by applications and merchants ---------------------------------------------


def check_email(value: Any, field: str = "contact_email") -> str:
    """The normalised address, or ``ValidationFailed``."""
    return normalise_email(clean_text(value, field, max_length=320, required=True), field, fold_case=False)


def check_website(value: Any, field: str = "website") -> str | None:
    """An absolute http(s) URL with a host, or None; ``ValidationFailed`` otherwise."""
    text = clean_text(value, field, max_length=500, required=False)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise ValidationFailed(
            "The website must be an http or https address, such as https://example.com.",
            errors={field: ["Not an http(s) URL."]},
        )
    return text


# ---- applications ---------------------------------------------------------------------------


def submit_application(
    session: Session,
    *,
    name: str,
    contact_email: str,
    website: str | None,
    category: str | None,
    actor: Actor = PUBLIC,
) -> MerchantApplication:
    """Record a business's request to join; an admin decides on it later."""
    application = MerchantApplication(
        name=clean_text(name, "name", max_length=200, required=True),
        contact_email=check_email(contact_email),
        website=check_website(website),
        category=clean_text(category, "category", max_length=100, required=False),
        status="pending",
    )
    session.add(application)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="merchant_application.submit",
        object_type="merchant_application",
        object_id=application.id,
        data={"name": application.name},
    )
    return application


def get_application(session: Session, application_id: str, *, actor: Actor) -> MerchantApplication:
    """An application; a merchant sees only the one that made it a merchant."""
    application = session.get(MerchantApplication, application_id) if usable_id(application_id) else None
    if application is None:
        raise NotFound("No such merchant application.")
    if actor.role in (Role.MERCHANT, Role.TERMINAL):
        if application.merchant_id is None or not actor.sees_merchant(application.merchant_id):
            raise NotFound("No such merchant application.")
    elif not actor.is_admin:
        raise Forbidden("Only the program operator reads applications.")
    return application


def _decide(
    session: Session, application_id: str, *, status: str, note: str | None, actor: Actor
) -> MerchantApplication:
    require_admin(actor)
    application = get_application(session, application_id, actor=actor)
    # A conditional UPDATE, so that two admins deciding at once cannot both win:
    # the second finds the application no longer pending.
    result = session.execute(
        update(MerchantApplication)
        .where(MerchantApplication.id == application.id, MerchantApplication.status == "pending")
        .values(status=status, decided_at=utcnow(), decision_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(application)
        raise InvalidState(f"The application was already {application.status}; it is decided once.")
    session.refresh(application)
    return application


def approve_application(session: Session, *, application_id: str, actor: Actor) -> tuple[Merchant, str]:
    """Make the applicant a merchant with a merchant key; returns the key's secret (shown once)."""
    application = _decide(session, application_id, status="approved", note=None, actor=actor)
    merchant = Merchant(
        name=application.name,
        contact_email=application.contact_email,
        website=application.website,
        category=application.category,
        status="active",
        require_signed_requests=True,
    )
    session.add(merchant)
    session.flush()
    application.merchant_id = merchant.id
    _key, secret = create_key(
        session, role=Role.MERCHANT, name=f"{merchant.name[:180]} (merchant)", merchant_id=merchant.id, actor=actor
    )
    session.flush()
    record_event(
        session,
        actor=actor,
        action="merchant_application.approve",
        object_type="merchant_application",
        object_id=application.id,
        merchant_id=merchant.id,
    )
    record_event(
        session,
        actor=actor,
        action="merchant.create",
        object_type="merchant",
        object_id=merchant.id,
        merchant_id=merchant.id,
        data={"name": merchant.name, "application_id": application.id},
    )
    return merchant, secret


def reject_application(
    session: Session, *, application_id: str, note: str | None = None, actor: Actor
) -> MerchantApplication:
    """Turn an application down, with an optional note for the applicant."""
    note = clean_text(note, "note", max_length=2000, required=False, multiline=True)
    application = _decide(session, application_id, status="rejected", note=note, actor=actor)
    record_event(
        session,
        actor=actor,
        action="merchant_application.reject",
        object_type="merchant_application",
        object_id=application.id,
        data={"note": note} if note else None,
    )
    return application


def list_applications(
    session: Session, *, limit: int, cursor: str | None, status: str | None = None, actor: Actor
) -> Page[MerchantApplication]:
    """Applications, newest first, optionally only those with one status."""
    require_admin(actor)
    query = select(MerchantApplication)
    if status:
        if status not in APPLICATION_STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}.", errors={"status": ["Unknown status."]})
        query = query.where(MerchantApplication.status == status)
    return paginate(session, query, MerchantApplication.id, limit=limit, cursor=cursor)


# ---- merchants -------------------------------------------------------------------------------


def list_merchants(
    session: Session, *, limit: int, cursor: str | None, status: str | None = None, actor: Actor
) -> Page[Merchant]:
    """Merchants, newest first; a merchant's own key sees only itself."""
    query = select(Merchant)
    if actor.role in (Role.MERCHANT, Role.TERMINAL):
        query = query.where(Merchant.id == actor.merchant_id)
    if status:
        if status not in MERCHANT_STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}.", errors={"status": ["Unknown status."]})
        query = query.where(Merchant.status == status)
    return paginate(session, query, Merchant.id, limit=limit, cursor=cursor)


def update_merchant(session: Session, *, merchant_id: str, changes: dict[str, Any], actor: Actor) -> Merchant:
    """Change a merchant's details; the change is audited with old and new values.

    A merchant may change its own contact email and website; its name,
    category, status and whether its terminals must sign are the operator's.
    """
    merchant = get_merchant(session, merchant_id, actor=actor)
    require_manager(actor, merchant.id)
    unknown = set(changes) - MERCHANT_EDITABLE_BY_ADMIN
    if unknown:
        raise ValidationFailed(
            "Unknown merchant field(s).", errors={field: ["Unknown field."] for field in sorted(unknown)}
        )
    if not actor.is_admin:
        reserved = set(changes) - MERCHANT_EDITABLE_BY_MERCHANT
        if reserved:
            raise Forbidden(f"Only the program operator may change {', '.join(sorted(reserved))}.")
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "name":
            clean[field] = clean_text(value, "name", max_length=200, required=True)
        elif field == "contact_email":
            clean[field] = check_email(value)
        elif field == "website":
            clean[field] = check_website(value)
        elif field == "category":
            clean[field] = clean_text(value, "category", max_length=100, required=False)
        elif field == "require_signed_requests":
            if not isinstance(value, bool):
                raise ValidationFailed("require_signed_requests is true or false.", errors={field: ["Not a boolean."]})
            clean[field] = value
        elif field == "status":
            if value not in MERCHANT_STATUSES:
                raise ValidationFailed(
                    f"The status is one of {', '.join(MERCHANT_STATUSES)}.", errors={field: ["Unknown status."]}
                )
            clean[field] = value
    diff = {}
    for field, value in clean.items():
        old = getattr(merchant, field)
        if old != value:
            diff[field] = {"old": old, "new": value}
            setattr(merchant, field, value)
    session.flush()
    if diff:
        record_event(
            session,
            actor=actor,
            action="merchant.update",
            object_type="merchant",
            object_id=merchant.id,
            merchant_id=merchant.id,
            data=diff,
        )
    return merchant


def merchant_is_active(session: Session, merchant_id: str) -> bool:
    """Whether the merchant exists and is not suspended."""
    return session.scalar(select(Merchant.status).where(Merchant.id == merchant_id)) == "active"


# ---- stores ----------------------------------------------------------------------------------


def add_store(session: Session, *, merchant_id: str, name: str, timezone: str, actor: Actor) -> Store:
    """Open a store for a merchant; its IANA timezone sets local days and hours for rules."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    require_manager(actor, merchant.id)
    require_active(merchant)
    store = Store(
        merchant_id=merchant.id,
        name=clean_text(name, "name", max_length=200, required=True),
        timezone=check_timezone(clean_text(timezone, "timezone", max_length=64, required=True)),
        status="active",
    )
    session.add(store)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="store.create",
        object_type="store",
        object_id=store.id,
        merchant_id=merchant.id,
        data={"name": store.name, "timezone": store.timezone},
    )
    return store


def list_stores(session: Session, *, merchant_id: str, limit: int, cursor: str | None, actor: Actor) -> Page[Store]:
    """A merchant's stores, newest first."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    query = select(Store).where(Store.merchant_id == merchant.id)
    return paginate(session, query, Store.id, limit=limit, cursor=cursor)
