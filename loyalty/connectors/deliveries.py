"""What a connector's vendor sent: each webhook delivery, stored once by the vendor's event id, and its fate.

A receiver (``pos_plugins``) finds the connector and its signing secrets here,
stores the delivery (``receive_event``) and queues a job; the job locks it
(``lock_event``), records a purchase or a return, and says what became of it
(``finish_event``). The merchant lists the deliveries (``list_events``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty import crypto
from loyalty.actors import SYSTEM, Actor
from loyalty.connectors.models import Connector, ConnectorEvent
from loyalty.connectors.services import API_TOKEN, SIGNING, get_connector, valid_secrets
from loyalty.db import new_id, upsert_insert, utcnow
from loyalty.errors import Forbidden, NotFound, ValidationFailed
from loyalty.merchants.checks import get_merchant
from loyalty.pagination import Page, paginate
from loyalty.text import usable_id

# What became of a delivery.
QUEUED = "queued"
RECORDED = "recorded"  # a purchase or a return was recorded (or had been, for the same order)
IGNORED = "ignored"  # nothing to record: an order not paid yet, a refund of no money, the same order again
REJECTED = "rejected"  # it could not be recorded: see reason and detail
EVENT_STATUSES = (QUEUED, RECORDED, IGNORED, REJECTED)


def webhook_connector(session: Session, connector_id: str, vendor: str) -> Connector:
    """The active connector a vendor's webhook is addressed to; ``NotFound`` otherwise."""
    connector = session.get(Connector, connector_id) if usable_id(connector_id) else None
    if connector is None or connector.vendor != vendor or connector.status != "active":
        raise NotFound("No such connector.")
    if get_merchant(session, connector.merchant_id, actor=SYSTEM).status != "active":
        raise Forbidden("The merchant is suspended; its connectors' deliveries are refused until it is reactivated.")
    return connector


def signing_secrets(session: Session, connector_id: str) -> list[str]:
    """The connector's signing secrets valid now (more than one during a rotation)."""
    return [crypto.decrypt(row.secret_encrypted) for row in valid_secrets(session, connector_id, SIGNING, utcnow())]


def api_token(session: Session, connector_id: str) -> str | None:
    """The connector's current token for the vendor's API, if it has one."""
    rows = valid_secrets(session, connector_id, API_TOKEN, utcnow())
    return crypto.decrypt(rows[0].secret_encrypted) if rows else None


def has_api_token(session: Session, connector_id: str) -> bool:
    """Whether the connector has a token for the vendor's API now (without reading it)."""
    return bool(valid_secrets(session, connector_id, API_TOKEN, utcnow()))


def receive_event(
    session: Session, *, connector: Connector, vendor_event_id: str, topic: str, payload: str
) -> tuple[ConnectorEvent, bool]:
    """Store a delivery once by its vendor event id: ``(event, True)`` the first time, ``(stored, False)`` after.

    ``INSERT ... ON CONFLICT DO NOTHING``: the same delivery arriving twice at
    once meets on the unique index, and only one of them is stored.
    """
    event_id = new_id("cev")
    inserted = session.execute(
        upsert_insert(session, ConnectorEvent.__table__)
        .values(
            id=event_id,
            connector_id=connector.id,
            merchant_id=connector.merchant_id,
            vendor_event_id=vendor_event_id,
            topic=topic,
            status=QUEUED,
            payload=payload,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["connector_id", "vendor_event_id"])
        .returning(ConnectorEvent.__table__.c.id)
    ).first()
    event = session.scalar(
        select(ConnectorEvent)
        .where(ConnectorEvent.connector_id == connector.id, ConnectorEvent.vendor_event_id == vendor_event_id)
        .execution_options(populate_existing=True)
    )
    if event is None:
        raise RuntimeError("The delivery's event id is taken, yet no delivery has it.")
    return event, inserted is not None


def lock_event(session: Session, event_id: str) -> ConnectorEvent:
    """A delivery, locked until the transaction ends (its job runs once at a time)."""
    event = session.get(ConnectorEvent, event_id, with_for_update=True, populate_existing=True)
    if event is None:
        raise NotFound("No such delivery.")
    return event


def finish_event(
    session: Session,
    event: ConnectorEvent,
    *,
    status: str,
    reason: str | None = None,
    detail: str | None = None,
    external_id: str | None = None,
    purchase_id: str | None = None,
    return_id: str | None = None,
    claim_code: str | None = None,
) -> ConnectorEvent:
    """Record what became of a delivery; its payload (personal data of the shopper) is dropped once it is done with."""
    if status not in EVENT_STATUSES or status == QUEUED:
        raise ValueError(f"not a final status: {status}")
    event.status = status
    event.reason = reason
    event.detail = detail[:2000] if detail else None
    event.external_id = external_id
    event.purchase_id = purchase_id
    event.return_id = return_id
    event.claim_code = claim_code
    event.processed_at = utcnow()
    if status != REJECTED:
        event.payload = ""
    session.flush()
    return event


def recorded_purchase_id(session: Session, *, connector_id: str, external_id: str) -> str | None:
    """The purchase a connector recorded for one of the vendor's orders, if it has been recorded."""
    return session.scalar(
        select(ConnectorEvent.purchase_id)
        .where(
            ConnectorEvent.connector_id == connector_id,
            ConnectorEvent.external_id == external_id,
            ConnectorEvent.purchase_id.is_not(None),
        )
        .limit(1)
    )


def list_events(
    session: Session, *, connector_id: str, actor: Actor, limit: int, cursor: str | None, status: str | None = None
) -> Page[ConnectorEvent]:
    """A connector's deliveries, newest first, optionally of one status."""
    connector = get_connector(session, connector_id, actor=actor)
    query = select(ConnectorEvent).where(ConnectorEvent.connector_id == connector.id)
    if status:
        if status not in EVENT_STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}.", errors={"status": ["Unknown status."]})
        query = query.where(ConnectorEvent.status == status)
    return paginate(session, query, ConnectorEvent.id, limit=limit, cursor=cursor)
