"""Shopify's order and refund webhooks (REST Admin API resources, 2024-01 and later) as purchases and returns.

Pure functions of the payload. Money in Shopify's payloads is a decimal string
in the shop's currency (``*_set.shop_money``); the customer's presentment
currency may differ and is not used. Documented fields read here:

- order (``orders/create``, ``orders/paid``): ``id``, ``currency``,
  ``financial_status``, ``cancelled_at``, ``processed_at``/``created_at``,
  ``location_id`` (the POS location), ``current_total_price(_set)``,
  ``refunds``, ``line_items[]`` (``sku``, ``variant_id``, ``product_id``,
  ``quantity``, ``price(_set)``, ``discount_allocations[].amount(_set)``),
  ``email``, ``phone``, ``customer`` (``email``, ``phone``), and
  ``note_attributes`` (a cart attribute ``loyalty_card`` holding the member's card number);
- refund (``refunds/create``): ``id``, ``order_id``, ``transactions[]``
  (``kind``, ``status``, ``amount``, ``currency``), ``refund_line_items[]``
  (``subtotal_set``, ``total_tax_set``), ``order_adjustments[]``.
"""

from __future__ import annotations

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
    timestamp,
)
from pos_plugins.common.money import to_minor

PAID = frozenset({"paid", "partially_refunded", "refunded"})
CARD_ATTRIBUTES = frozenset({"loyalty_card", "loyalty_card_number"})


def order_external_id(order_id: Any) -> str:
    """The purchase's external_id for a Shopify order: every event about the order is the same purchase."""
    return f"shopify:{text(order_id, 'The order id', longest=40)}"


def _shop_amount(value_set: Any, plain: Any, currency: str) -> int:
    """A ``*_set.shop_money.amount`` in minor units, or the plain field when the set is absent."""
    if isinstance(value_set, dict) and isinstance(value_set.get("shop_money"), dict):
        money = value_set["shop_money"]
        if money.get("currency_code") not in (None, currency):
            raise MappingError(f"An amount is in {money.get('currency_code')}, not the shop's {currency}.")
        return to_minor(money.get("amount"), currency)
    if plain is None:
        raise MappingError("An amount is missing.")
    return to_minor(plain, currency)


def _refund_currency(refund: dict[str, Any]) -> str | None:
    """The shop's currency as a refund names it (its ``*_set.shop_money``), if it names it."""
    candidates = [refund.get("total_duties_set")]
    for line in as_list(refund.get("refund_line_items"), "refund_line_items"):
        candidates.append(as_dict(line, "A refund line").get("subtotal_set"))
    for adjustment in as_list(refund.get("order_adjustments"), "order_adjustments"):
        candidates.append(as_dict(adjustment, "An order adjustment").get("amount_set"))
    for value_set in candidates:
        if isinstance(value_set, dict) and isinstance(value_set.get("shop_money"), dict):
            code = value_set["shop_money"].get("currency_code")
            if isinstance(code, str):
                return code
    return None


def refunded_minor(refund: dict[str, Any], currency: str) -> int:
    """The money a refund gave back, in the shop's currency's minor units.

    The successful ``refund`` transactions when they are in the shop's
    currency; otherwise (a refund paid out in another presentment currency)
    the refunded lines with their tax, less the order adjustments (shipping
    refunds are negative adjustments), in shop money.
    """
    transactions = [
        as_dict(t, "A transaction")
        for t in as_list(refund.get("transactions"), "transactions")
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
    ]
    if transactions and all(t.get("currency") in (None, currency) for t in transactions):
        return sum(to_minor(t.get("amount"), currency) for t in transactions)
    amount = 0
    for line in as_list(refund.get("refund_line_items"), "refund_line_items"):
        line = as_dict(line, "A refund line")
        amount += _shop_amount(line.get("subtotal_set"), line.get("subtotal"), currency)
        amount += _shop_amount(line.get("total_tax_set"), line.get("total_tax") or "0", currency)
    for adjustment in as_list(refund.get("order_adjustments"), "order_adjustments"):
        adjustment = as_dict(adjustment, "An order adjustment")
        amount -= _shop_amount(adjustment.get("amount_set"), adjustment.get("amount"), currency)
        amount -= _shop_amount(adjustment.get("tax_amount_set"), adjustment.get("tax_amount") or "0", currency)
    return amount


def _sku(line: dict[str, Any]) -> str:
    sku = optional_text(line.get("sku"), longest=100)
    if sku:
        return sku
    for field, prefix in (("variant_id", "variant"), ("product_id", "product"), ("id", "line")):
        if line.get(field) not in (None, ""):
            return f"{prefix}:{text(line[field], field)}"
    raise MappingError("A line item has no sku, variant, product or id.")


def _item(line: Any, currency: str) -> Item | None:
    line = as_dict(line, "A line item")
    quantity = line.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise MappingError("A line item's quantity is not a whole number.")
    if quantity == 0:
        return None
    price = _shop_amount(line.get("price_set"), line.get("price"), currency)
    discounts = sum(
        _shop_amount(a.get("amount_set"), a.get("amount"), currency)
        for a in (
            as_dict(a, "A discount allocation")
            for a in as_list(line.get("discount_allocations"), "discount_allocations")
        )
    )
    # The unit price after the line's share of discounts, rounded down to a minor unit.
    net = max(price * quantity - discounts, 0)
    return Item(sku=_sku(line), quantity=quantity, unit_price_minor=floor_div(net, quantity))


def _customer(order: dict[str, Any]) -> Customer:
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    card = None
    for attribute in as_list(order.get("note_attributes"), "note_attributes"):
        if isinstance(attribute, dict) and attribute.get("name") in CARD_ATTRIBUTES:
            card = optional_text(attribute.get("value"), longest=40)
    return Customer(
        card_number=card,
        email=optional_text(order.get("email")) or optional_text(customer.get("email")),
        phone=optional_text(order.get("phone"), longest=32) or optional_text(customer.get("phone"), longest=32),
    )


def map_order(order: dict[str, Any]) -> PurchaseInput | Skip:
    """An order, once paid, as a purchase at the order's POS location (or the connector's default store).

    The total is what the shopper paid: ``current_total_price`` plus any
    refund the order already lists (each refund arrives as its own event and
    is returned then, so it must not be taken off twice).
    """
    order = as_dict(order, "The order")
    external_id = order_external_id(order.get("id"))
    if order.get("cancelled_at"):
        return Skip("order_cancelled", f"Order {order.get('name') or order.get('id')} was cancelled.")
    if order.get("financial_status") not in PAID:
        return Skip(
            "order_not_paid", f"financial_status is {order.get('financial_status')!r}; the paid order comes later."
        )
    currency = text(order.get("currency"), "The order currency", longest=3)
    total = _shop_amount(order.get("current_total_price_set"), order.get("current_total_price"), currency)
    for refund in as_list(order.get("refunds"), "refunds"):
        total += refunded_minor(as_dict(refund, "A refund"), currency)
    items = tuple(
        item for item in (_item(line, currency) for line in as_list(order.get("line_items"), "line_items")) if item
    )
    location = order.get("location_id")
    return PurchaseInput(
        external_id=external_id,
        location=text(location, "location_id") if location not in (None, "") else None,
        occurred_at=timestamp(order.get("processed_at") or order.get("created_at"), "processed_at"),
        currency=currency,
        total_minor=total,
        items=items,
        customer=_customer(order),
    )


def map_refund(refund: dict[str, Any], *, currency: str | None = None) -> ReturnInput | Skip:
    """A refund as a return of the order's purchase, by the money given back.

    ``currency`` is the shop's, when the caller knows it; otherwise it is
    read from the refund's shop-money amounts, or its transactions.
    """
    refund = as_dict(refund, "The refund")
    refund_id = text(refund.get("id"), "The refund id", longest=40)
    currency = currency or _refund_currency(refund)
    if currency is None:
        currencies = {
            t.get("currency") for t in as_list(refund.get("transactions"), "transactions") if isinstance(t, dict)
        }
        currency = currencies.pop() if len(currencies) == 1 else None
    if not isinstance(currency, str):
        return Skip("no_money_refunded", "The refund gave no money back.")
    amount = refunded_minor(refund, currency)
    if amount <= 0:
        return Skip("no_money_refunded", "The refund gave no money back (a restock or a note only).")
    return ReturnInput(
        external_id=f"shopify:refund:{refund_id}",
        purchase_external_id=order_external_id(refund.get("order_id")),
        amount_minor=amount,
    )
