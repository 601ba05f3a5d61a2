"""Odoo Point of Sale orders (``pos.order`` with its ``pos.order.line``, Odoo 16 to 18) as purchases and returns.

Odoo has no webhook of its own. An automated action on ``pos.order`` posts
the order as ``read()`` returns it over JSON-RPC, in this envelope::

    {"database": "<db name>",
     "order": {pos.order fields: id, name, pos_reference, uuid, state, date_order, amount_total,
               currency_id, config_id, partner_id, refunded_order_ids},
     "lines": [{pos.order.line fields: id, product_id, full_product_name, qty, price_unit, discount}],
     "partner": {res.partner fields: email, phone, mobile, barcode} or null,
     "products": [{product.product fields: id, default_code, pos_categ_ids or categ_id}] (optional)}

Many2one fields read as ``[id, "display name"]`` or ``false``; datetimes as
``"YYYY-MM-DD HH:MM:SS"`` in UTC; amounts as JSON numbers (parsed as
decimals and rounded half up to the currency's minor unit, as Odoo rounds).
``discount`` is a percentage. A refund is an order of negative quantities
whose ``refunded_order_ids`` names the original order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty.units import floor_div
from pos_plugins.common.inputs import (
    Customer,
    Item,
    MappingError,
    PurchaseInput,
    ReturnInput,
    Skip,
    as_dict,
    as_list,
    optional_text,
    text,
)
from pos_plugins.common.money import decimal_of, to_minor

PAID = frozenset({"paid", "done", "invoiced"})
_CODE_IN_NAME = re.compile(r"^\[([^\]]{1,100})\]")
_DATABASE = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


def order_external_id(database: str, order_id: Any) -> str:
    """The purchase's external_id for an Odoo order: its database and its id there."""
    return f"odoo:{database}:{text(order_id, 'The order id', longest=20)}"


def order_reference(order: dict[str, Any]) -> str:
    """The order's own unique reference: its ``uuid`` (Odoo 17+), else its ``pos_reference`` (the till's uid)."""
    return text(order.get("uuid") or order.get("pos_reference"), "The order's uuid or pos_reference", longest=120)


def _many2one(value: Any) -> tuple[Any, str] | None:
    """``[id, "name"]`` as a pair; ``false`` or null as None."""
    if isinstance(value, list) and len(value) == 2:
        return value[0], str(value[1])
    if value in (False, None):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value, ""
    raise MappingError(f"{value!r} is not a many2one value.")


def _database(envelope: dict[str, Any]) -> str:
    database = envelope.get("database")
    if not isinstance(database, str) or not _DATABASE.match(database):
        raise MappingError("database is missing or is not an Odoo database name.")
    return database


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MappingError("date_order is missing.")
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        raise MappingError("date_order is not an Odoo datetime.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _products(envelope: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {
        product.get("id"): product
        for product in as_list(envelope.get("products"), "products")
        if isinstance(product, dict)
    }


def _category(product: dict[str, Any]) -> str | None:
    for field in ("pos_categ_ids", "pos_categ_id", "categ_id"):
        value = product.get(field)
        if isinstance(value, list) and value and isinstance(value[0], list):
            value = value[0]
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
            # "All / Saleable / Coffee" -> "Coffee"
            return optional_text(value[1].rsplit("/", 1)[-1], longest=100)
    return None


def _sku_and_category(line: dict[str, Any], products: dict[Any, dict[str, Any]]) -> tuple[str, str | None]:
    product = _many2one(line.get("product_id"))
    if product is None:
        raise MappingError("An order line has no product_id.")
    product_id, display_name = product
    details = products.get(product_id, {})
    code = optional_text(details.get("default_code"), longest=100)
    if not code:
        # Odoo shows a product with an internal reference as "[CODE] Name".
        match = _CODE_IN_NAME.match(display_name)
        code = match.group(1).strip() if match else None
    return code or f"product:{text(product_id, 'product_id', longest=20)}", _category(details)


def _line_value(line: dict[str, Any], quantity: Decimal, currency: str) -> int:
    """The line's price after its discount (a percentage), tax excluded, in minor units."""
    price_unit = decimal_of(line.get("price_unit"))
    discount = decimal_of(line.get("discount") or 0)
    if not Decimal(0) <= discount <= Decimal(100):
        raise MappingError("An order line's discount is not a percentage.")
    return to_minor(price_unit * quantity * (Decimal(100) - discount) / Decimal(100), currency, exact=False)


def _customer(envelope: dict[str, Any]) -> Customer:
    partner = envelope.get("partner") if isinstance(envelope.get("partner"), dict) else {}
    return Customer(
        card_number=optional_text(partner.get("barcode"), longest=40),
        email=optional_text(partner.get("email")),
        phone=optional_text(partner.get("mobile"), longest=32) or optional_text(partner.get("phone"), longest=32),
    )


def map_order(envelope: dict[str, Any]) -> PurchaseInput | ReturnInput | Skip:
    """A paid order as a purchase at its POS (``config_id``); a refund order as a return of the original's items."""
    envelope = as_dict(envelope, "The delivery")
    database = _database(envelope)
    order = as_dict(envelope.get("order"), "order")
    external_id = order_external_id(database, order.get("id"))
    if order.get("state") not in PAID:
        return Skip("order_not_paid", f"The order is {order.get('state')!r}; it is recorded once paid.")
    currency_field = _many2one(order.get("currency_id"))
    if currency_field is None:
        raise MappingError("currency_id is missing.")
    currency = text(currency_field[1], "The currency", longest=3)
    total = to_minor(decimal_of(order.get("amount_total")), currency, exact=False)
    lines = [as_dict(line, "An order line") for line in as_list(envelope.get("lines"), "lines")]
    products = _products(envelope)
    quantities = [decimal_of(line.get("qty")) for line in lines]

    if total < 0 or (quantities and all(q < 0 for q in quantities)):
        originals = as_list(order.get("refunded_order_ids"), "refunded_order_ids")
        if len(originals) != 1:
            return Skip("refund_without_one_original", "A refund is recorded against exactly one original order.")
        returned: list[tuple[str, int]] = []
        for line, quantity in zip(lines, quantities, strict=True):
            if quantity >= 0:
                continue
            if quantity != quantity.to_integral_value():
                returned = []
                break
            returned.append((_sku_and_category(line, products)[0], int(-quantity)))
        return ReturnInput(
            external_id=external_id,
            purchase_external_id=order_external_id(database, originals[0]),
            items=tuple(returned) if returned else None,
            amount_minor=None if returned else -total,
        )

    items = []
    for line, quantity in zip(lines, quantities, strict=True):
        if quantity <= 0:
            continue
        sku, category = _sku_and_category(line, products)
        value = max(_line_value(line, quantity, currency), 0)
        if quantity == quantity.to_integral_value():
            items.append(
                Item(
                    sku=sku, category=category, quantity=int(quantity), unit_price_minor=floor_div(value, int(quantity))
                )
            )
        else:
            # Sold by weight ("1.5" kg): one unit at the line's price.
            items.append(Item(sku=sku, category=category, quantity=1, unit_price_minor=value))
    config = _many2one(order.get("config_id"))
    return PurchaseInput(
        external_id=external_id,
        location=str(config[0]) if config else None,
        occurred_at=_moment(order.get("date_order")),
        currency=currency,
        total_minor=total,
        items=tuple(items),
        customer=_customer(envelope),
    )
