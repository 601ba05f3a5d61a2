"""Webhook subscriptions of a merchant, managed by the merchant itself or the operator, and their delivery log."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.merchants.services import get_merchant
from loyalty.outbox.services import add_task
from loyalty.pagination import Page, paginate
from loyalty.text import has_control_characters, usable_id
from loyalty.webhooks.delivery import check_url
from loyalty.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from loyalty.webhooks.sending import (
    DELIVERY_STATUSES,
    EVENT_TYPES,
    cancel_pending,
    dispatch_deliveries,
    new_delivery_row,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 (a recognisable prefix, not a secret)
MAX_SUBSCRIPTIONS = 20
MAX_GRACE_HOURS = 24 * 30


def _require_manager(actor: Actor, merchant_id: str) -> None:
    """The operator, or the merchant itself (another merchant never gets this far: it is not found)."""
    if actor.is_admin or (actor.role is Role.MERCHANT and actor.merchant_id == merchant_id):
        return
    raise Forbidden("Only the operator or the merchant itself manages its webhooks.")


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValidationFailed(
            "events lists at least one event type.", errors={"events": [f"Some of {', '.join(EVENT_TYPES)}."]}
        )
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type(s) {', '.join(map(repr, unknown))}; the types are {', '.join(EVENT_TYPES)}.",
            errors={"events": [f"Unknown: {', '.join(unknown)}."]},
        )
    return list(dict.fromkeys(events))


def _check_description(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or has_control_characters(value) or len(value.strip()) > 200:
        raise ValidationFailed(
            "The description is one line of at most 200 characters.",
            errors={"description": ["At most 200 characters, one line."]},
        )
    return value.strip()


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_subscription(
    session: Session, *, merchant_id: str, url: str, events: list[str], description: str | None, actor: Actor
) -> tuple[WebhookSubscription, str]:
    """Subscribe a merchant's endpoint to event types; returns it with its signing secret (shown once)."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    _require_manager(actor, merchant.id)
    url = check_url(url)
    events = _check_events(events)
    description = _check_description(description)
    live = session.scalar(
        select(func.count())
        .select_from(WebhookSubscription)
        .where(WebhookSubscription.merchant_id == merchant.id, WebhookSubscription.deleted_at.is_(None))
    )
    if live >= MAX_SUBSCRIPTIONS:
        raise InvalidState(f"A merchant has at most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first.")
    secret = _new_secret()
    subscription = WebhookSubscription(
        merchant_id=merchant.id,
        url=url,
        events=events,
        description=description,
        secret_encrypted=crypto.encrypt(secret),
    )
    session.add(subscription)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="webhook.create",
        object_type="webhook_subscription",
        object_id=subscription.id,
        merchant_id=merchant.id,
        data={"url": url, "events": events},
    )
    return subscription, secret


def get_subscription(session: Session, subscription_id: str, *, actor: Actor) -> WebhookSubscription:
    """A live subscription the actor manages; another merchant's, or a deleted one, is not found."""
    subscription = session.get(WebhookSubscription, subscription_id) if usable_id(subscription_id) else None
    if subscription is None or subscription.deleted_at is not None or not actor.sees_merchant(subscription.merchant_id):
        raise NotFound("No such webhook subscription.")
    _require_manager(actor, subscription.merchant_id)
    return subscription


def list_subscriptions(
    session: Session, *, merchant_id: str, actor: Actor, limit: int, cursor: str | None
) -> Page[WebhookSubscription]:
    """A merchant's live subscriptions, newest first."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    _require_manager(actor, merchant.id)
    query = select(WebhookSubscription).where(
        WebhookSubscription.merchant_id == merchant.id, WebhookSubscription.deleted_at.is_(None)
    )
    return paginate(session, query, WebhookSubscription.id, limit=limit, cursor=cursor)


def delete_subscription(session: Session, *, subscription_id: str, actor: Actor) -> WebhookSubscription:
    """Stop sending to a subscription at once; its deliveries not yet made are cancelled, its log kept."""
    subscription = get_subscription(session, subscription_id, actor=actor)
    subscription.deleted_at = utcnow()
    cancelled = cancel_pending(session, subscription.id)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="webhook.delete",
        object_type="webhook_subscription",
        object_id=subscription.id,
        merchant_id=subscription.merchant_id,
        data={"url": subscription.url, "cancelled_deliveries": cancelled},
    )
    return subscription


def rotate_secret(
    session: Session, *, subscription_id: str, grace_hours: int, actor: Actor
) -> tuple[WebhookSubscription, str, datetime]:
    """Give a subscription a new secret (shown once); deliveries carry a signature by the old one too until
    the returned moment (``grace_hours`` from now; 0 ends it at once). A secret older than the last one is dropped.
    """
    if isinstance(grace_hours, bool) or not isinstance(grace_hours, int) or not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise ValidationFailed(
            f"grace_hours is a whole number from 0 to {MAX_GRACE_HOURS}.", errors={"grace_hours": ["Out of range."]}
        )
    subscription = get_subscription(session, subscription_id, actor=actor)
    now = utcnow()
    secret = _new_secret()
    subscription.previous_secret_encrypted = subscription.secret_encrypted if grace_hours else None
    subscription.previous_secret_expires_at = now + timedelta(hours=grace_hours)
    subscription.secret_encrypted = crypto.encrypt(secret)
    subscription.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        action="webhook.rotate_secret",
        object_type="webhook_subscription",
        object_id=subscription.id,
        merchant_id=subscription.merchant_id,
        data={"grace_hours": grace_hours},
    )
    return subscription, secret, subscription.previous_secret_expires_at


def list_deliveries(
    session: Session,
    *,
    subscription_id: str,
    actor: Actor,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    event_type: str | None = None,
) -> Page[WebhookDelivery]:
    """A subscription's delivery log, newest first, optionally by status or event type."""
    subscription = get_subscription(session, subscription_id, actor=actor)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if status:
        if status not in DELIVERY_STATUSES:
            raise ValidationFailed(
                f"status is one of {', '.join(DELIVERY_STATUSES)}.", errors={"status": ["Unknown status."]}
            )
        query = query.where(WebhookDelivery.status == status)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    return paginate(session, query, WebhookDelivery.id, limit=limit, cursor=cursor)


def get_delivery(session: Session, delivery_id: str, *, actor: Actor) -> WebhookDelivery:
    """One delivery of a live subscription the actor manages."""
    found = session.get(WebhookDelivery, delivery_id) if usable_id(delivery_id) else None
    if found is None:
        raise NotFound("No such webhook delivery.")
    try:
        get_subscription(session, found.subscription_id, actor=actor)
    except NotFound:
        raise NotFound("No such webhook delivery.") from None
    return found


def event_payload(session: Session, event_id: str) -> dict[str, Any]:
    """An event as its deliveries send it: ``{id, type, created_at, data}``."""
    return json.loads(session.get(WebhookEvent, event_id).body)


def redeliver(session: Session, *, delivery_id: str, actor: Actor) -> WebhookDelivery:
    """Send a delivery's event to its subscription again, as a new delivery (same event id, a fresh signature)."""
    original = get_delivery(session, delivery_id, actor=actor)
    row = new_delivery_row(
        original.subscription_id, original.event_id, original.event_type, utcnow(), redelivery_of=original.id
    )
    delivery = WebhookDelivery(**row)
    session.add(delivery)
    session.flush()
    add_task(session, dispatch_deliveries, delivery_ids=[delivery.id])
    record_event(
        session,
        actor=actor,
        action="webhook.redeliver",
        object_type="webhook_delivery",
        object_id=delivery.id,
        data={"redelivery_of": original.id, "event_id": original.event_id},
    )
    return delivery
