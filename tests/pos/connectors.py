"""Vendor samples and signatures for the connector tests, computed as each vendor computes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.factories_merchants import signed_headers

SAMPLES = Path(__file__).parent / "samples"


def sample_bytes(vendor: str, name: str) -> bytes:
    return (SAMPLES / vendor / name).read_bytes()


def sample(vendor: str, name: str) -> dict[str, Any]:
    """A sample parsed as the service parses payloads (numbers with a fraction as decimals)."""
    return json.loads(sample_bytes(vendor, name), parse_float=Decimal)


def body_of(payload: dict[str, Any]) -> bytes:
    """A payload as a vendor would send it (decimals written back as JSON numbers)."""

    def default(value):
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(value)

    return json.dumps(payload, default=default).encode()


def shopify_headers(secret: str, raw: bytes, *, topic: str, event_id: str, shop: str = "cafe.myshopify.com") -> dict:
    digest = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2024-01",
    }


def square_headers(signature_key: str, notification_url: str, raw: bytes) -> dict:
    digest = hmac.new(signature_key.encode(), notification_url.encode() + raw, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode(), "square-environment": "Production"}


def odoo_headers(secret: str, path: str, raw: bytes, *, timestamp: int | None = None) -> dict:
    return signed_headers(secret, "POST", path, raw, timestamp=timestamp)
