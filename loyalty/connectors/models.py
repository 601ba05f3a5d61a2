from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, new_id, utcnow


class Connector(Base):
    """A merchant's commercial POS (Shopify, Square, Odoo) sending its sales to us by webhook.

    ``locations`` maps the vendor's shop or location ids to our stores; a
    delivery from a location not in it goes to ``default_store_id``.
    ``account`` (the Shopify shop domain, the Square merchant id, the Odoo
    database), when set, must match what each delivery names.
    """

    __tablename__ = "connectors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("con"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    vendor: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    account: Mapped[str | None] = mapped_column(String(200))
    default_store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"))
    locations: Mapped[dict] = mapped_column(json_type(), default=dict)
    settings: Mapped[dict] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorSecret(Base):
    """A secret of a connector, encrypted at rest: the key its webhooks are signed with
    (``signing``), or a token to read orders from the vendor's API (``api_token``).

    Several signing secrets can be valid at once while the merchant rotates one.
    """

    __tablename__ = "connector_secrets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("csc"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]


class ConnectorEvent(Base):
    """One webhook delivery accepted from a vendor, and what became of it.

    ``(connector_id, vendor_event_id)`` is unique: a delivery the vendor sends
    again is recognised and changes nothing. ``payload`` is the raw body as
    received, parsed by the job (amounts as decimals, never floats) and
    cleared once it has been recorded.
    """

    __tablename__ = "connector_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cev"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id"))
    merchant_id: Mapped[str] = mapped_column(String(40))
    vendor_event_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    payload: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(100))
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    return_id: Mapped[str | None] = mapped_column(String(40))
    claim_code: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("connector_id", "vendor_event_id"),
        Index("ix_connector_events_connector", "connector_id", "id"),
        # The purchase recorded for an order, found again when its refund arrives.
        Index("ix_connector_events_external", "connector_id", "external_id"),
    )
