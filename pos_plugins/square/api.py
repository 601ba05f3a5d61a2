"""The few reads of Square's API a delivery needs: the order (its lines), its customer, a refunded payment.

Square's order webhooks name the order but do not carry it, so the job reads
it with the seller's access token. Standard library only; each call is one
GET with a timeout. A refusal of the order (400, 401, 403, 404) is final; a
customer or payment Square will not show is simply not used (the purchase is
then anonymous, the refund found by its own order id). Anything else (a
timeout, 429, 5xx) raises ``SquareUnavailable`` and the job is retried.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

from pos_plugins.common.jobs import VendorRefused

SQUARE_VERSION = "2025-01-23"
TIMEOUT_SECONDS = 10


class SquareUnavailable(Exception):
    """Square could not answer now; the job is retried later."""


class SquareApi:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _get(self, path: str, *, optional: bool = False) -> dict[str, Any] | None:
        """The answer's body; with ``optional``, None when Square has no such object or the token may not read it."""
        request = urllib.request.Request(  # noqa: S310 (the base URL is the service's configuration, https in production)
            self.base_url + path,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Square-Version": SQUARE_VERSION,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"), parse_float=Decimal)
        except urllib.error.HTTPError as exc:
            if exc.code in (403, 404) and optional:
                return None
            if exc.code in (400, 401, 403, 404):
                raise VendorRefused(f"Square answered {exc.code} to GET {path}.") from None
            raise SquareUnavailable(f"Square answered {exc.code} to GET {path}.") from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise SquareUnavailable(f"Square could not be reached for GET {path}: {exc}") from None

    def order(self, order_id: str) -> dict[str, Any]:
        body = self._get(f"/v2/orders/{urllib.parse.quote(order_id, safe='')}") or {}
        if not isinstance(body.get("order"), dict):
            raise VendorRefused("Square's RetrieveOrder answer has no order.")
        return body["order"]

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        body = self._get(f"/v2/customers/{urllib.parse.quote(customer_id, safe='')}", optional=True) or {}
        return body.get("customer") if isinstance(body.get("customer"), dict) else None

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        body = self._get(f"/v2/payments/{urllib.parse.quote(payment_id, safe='')}", optional=True) or {}
        return body.get("payment") if isinstance(body.get("payment"), dict) else None
