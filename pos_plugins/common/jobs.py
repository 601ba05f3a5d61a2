"""The background work of a delivery: map the vendor's payload, then record the purchase or the return, once.

Runs from the outbox, so the delivery's row is committed before the job
starts and the job's changes commit with the outbox message marked done: a
retried job finds the delivery already handled and does nothing. Even a
second delivery about the same order (another topic, a replay with a new
event id) maps to the same ``external_id``, which the purchase service
answers as a replay: nothing is ever awarded twice.
"""

from __future__ import annotations

import importlib
import json
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loyalty.actors import SYSTEM
from loyalty.connectors import deliveries
from loyalty.connectors import services as connectors
from loyalty.connectors.models import Connector, ConnectorEvent
from loyalty.db import utcnow
from loyalty.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidState,
    LoyaltyError,
    NotFound,
    ReturnExceedsPurchase,
    ValidationFailed,
)
from loyalty.idempotency import request_hash
from loyalty.members.services import ACTIVE, lookup_members
from loyalty.outbox import services as outbox
from loyalty.purchases import services as purchases
from loyalty.purchases.returns import return_purchase
from pos_plugins.common.inputs import MappingError, PurchaseInput, ReturnInput, Skip
from pos_plugins.common.money import AmountError

log = logging.getLogger(__name__)

# How long a refund waits for its order's purchase to be recorded before it is rejected (the job's retries span more).
ORIGINAL_ORDER_WAIT = timedelta(minutes=30)


class NotYet(Exception):
    """The delivery cannot be recorded yet (its original order is still on its way): the job is retried later."""


class VendorRefused(Exception):
    """The vendor's API refused what the job asked for (a revoked token, an unknown order): not retried."""


def _vendor(connector: Connector):
    # Each vendor's receiver knows how to turn its stored delivery into a purchase or a return.
    return importlib.import_module(f"pos_plugins.{connector.vendor}.receiver")


def _member_id(session: Session, purchase: PurchaseInput) -> str | None:
    """The active member the vendor's customer is, tried by card, email then phone; None for an unknown shopper."""
    for name, value in purchase.customer.identifiers():
        try:
            member = lookup_members(session, **{name: value})
        except ValidationFailed:
            continue  # a vendor's phone not in E.164, a mistyped card: not a way to find anyone
        if member is not None and member.status == ACTIVE:
            return member.id
    return None


def _store_id(connector: Connector, location: str | None) -> str | None:
    return (connector.locations or {}).get(location or "") or connector.default_store_id


def _record_purchase(session: Session, connector: Connector, event: ConnectorEvent, purchase: PurchaseInput) -> None:
    store_id = _store_id(connector, purchase.location)
    if store_id is None:
        deliveries.finish_event(
            session,
            event,
            status=deliveries.REJECTED,
            reason="unmapped_location",
            detail=f"No store is mapped for the vendor's location {purchase.location!r} and there is no default store.",
            external_id=purchase.external_id,
        )
        return
    member_id = _member_id(session, purchase)
    try:
        with session.begin_nested():
            outcome = purchases.record_purchase(
                session,
                store_id=store_id,
                terminal_id=None,
                external_id=purchase.external_id,
                member_ref={"member_id": member_id} if member_id else None,
                occurred_at=purchase.occurred_at,
                currency=purchase.currency,
                total_minor=purchase.total_minor,
                items=[item.body() for item in purchase.items],
                # The sale itself, not who bought it: a member found on one event and not on the next is the same sale.
                fingerprint=request_hash(purchase.body()),
                actor=connectors.connector_actor(connector),
            )
    except IdempotencyConflict:
        deliveries.finish_event(
            session,
            event,
            status=deliveries.IGNORED,
            reason="order_already_recorded",
            detail="This order was recorded from an earlier delivery, with other content; it is not recorded twice.",
            external_id=purchase.external_id,
            purchase_id=deliveries.recorded_purchase_id(
                session, connector_id=connector.id, external_id=purchase.external_id
            ),
        )
        return
    except (CurrencyMismatch, InvalidState, NotFound, ValidationFailed) as exc:
        deliveries.finish_event(
            session,
            event,
            status=deliveries.REJECTED,
            reason=exc.reason,
            detail=exc.message,
            external_id=purchase.external_id,
        )
        return
    receipt = outcome.receipt
    deliveries.finish_event(
        session,
        event,
        status=deliveries.RECORDED,
        reason="replayed" if outcome.replayed else None,
        external_id=purchase.external_id,
        purchase_id=receipt["id"],
        claim_code=receipt.get("claim_code"),
    )


def _record_return(session: Session, connector: Connector, event: ConnectorEvent, refund: ReturnInput) -> None:
    purchase_id = deliveries.recorded_purchase_id(
        session, connector_id=connector.id, external_id=refund.purchase_external_id
    )
    if purchase_id is None:
        if utcnow() - event.received_at < ORIGINAL_ORDER_WAIT:
            # The order's own delivery may still be on its way (vendors retry failed deliveries): retried later.
            raise NotYet(f"the order {refund.purchase_external_id} is not recorded yet")
        deliveries.finish_event(
            session,
            event,
            status=deliveries.REJECTED,
            reason="unknown_order",
            detail=f"No purchase was recorded for {refund.purchase_external_id} (an order from before the connector?).",
            external_id=refund.external_id,
        )
        return
    body = refund.body()
    try:
        with session.begin_nested():
            outcome = return_purchase(
                session,
                purchase_id=purchase_id,
                external_id=refund.external_id,
                items=body.get("items"),
                amount_minor=body.get("amount_minor"),
                fingerprint=request_hash(body),
                actor=connectors.connector_actor(connector),
            )
    except IdempotencyConflict:
        deliveries.finish_event(
            session,
            event,
            status=deliveries.IGNORED,
            reason="refund_already_recorded",
            detail="This refund was recorded from an earlier delivery, with other content.",
            external_id=refund.external_id,
            purchase_id=purchase_id,
        )
        return
    except (ReturnExceedsPurchase, NotFound, ValidationFailed) as exc:
        deliveries.finish_event(
            session,
            event,
            status=deliveries.REJECTED,
            reason=exc.reason,
            detail=exc.message,
            external_id=refund.external_id,
            purchase_id=purchase_id,
        )
        return
    deliveries.finish_event(
        session,
        event,
        status=deliveries.RECORDED,
        reason="replayed" if outcome.replayed else None,
        external_id=refund.external_id,
        purchase_id=purchase_id,
        return_id=outcome.receipt["id"],
    )


def record_delivery(session: Session, event_id: str) -> ConnectorEvent:
    """Map and record one stored delivery, unless it was handled already."""
    event = deliveries.lock_event(session, event_id)
    if event.status != deliveries.QUEUED:
        return event
    connector = connectors.get_connector(session, event.connector_id, actor=SYSTEM)
    try:
        payload: dict[str, Any] = json.loads(event.payload, parse_float=Decimal)
        mapped = _vendor(connector).translate(session, connector, event.topic, payload)
    except (MappingError, AmountError, LoyaltyError) as exc:
        detail = exc.message if isinstance(exc, LoyaltyError) else str(exc)
        deliveries.finish_event(session, event, status=deliveries.REJECTED, reason="malformed_payload", detail=detail)
        return event
    except VendorRefused as exc:
        deliveries.finish_event(
            session, event, status=deliveries.REJECTED, reason="vendor_api_refused", detail=str(exc)
        )
        return event
    if isinstance(mapped, Skip):
        deliveries.finish_event(session, event, status=deliveries.IGNORED, reason=mapped.reason, detail=mapped.detail)
    elif isinstance(mapped, PurchaseInput):
        _record_purchase(session, connector, event, mapped)
    else:
        _record_return(session, connector, event, mapped)
    log.info("connector %s: delivery %s %s (%s)", connector.id, event.id, event.status, event.reason or "-")
    return event


@outbox.task(queue="default", timeout=120)
def process_connector_event(session: Session, *, event_id: str) -> None:
    """The outbox task of a delivery."""
    record_delivery(session, event_id)
