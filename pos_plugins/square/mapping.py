"""Square's Order, Customer and PaymentRefund objects (Square API 2024 and later) as purchases and returns.

Pure functions of the objects. Square's ``Money`` is ``{amount, currency}``
with ``amount`` already an integer in the currency's smallest unit, so no
conversion is made. Documented fields read here:

- Order (``RetrieveOrder``'s ``order``): ``id``, ``location_id``, ``state``,
  ``closed_at``/``created_at``, ``total_money``, ``customer_id``,
  ``line_items[]`` (``uid``, ``catalog_object_id``, ``name``, ``quantity`` as
  a decimal string, ``base_price_money``, ``gross_sales_money``,
  ``total_discount_money``);
- Customer (``RetrieveCustomer``'s ``customer``): ``email_address``,
  ``phone_number``, ``reference_id`` (a member's card number, when the seller keeps it there);
- PaymentRefund (``refund.created``/``refund.updated``'s ``data.object.refund``):
  ``id``, ``status``, ``amount_money``, ``payment_id``, ``order_id``; and the
  refunded Payment's ``order_id`` (the original order), when it was read.
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
from pos_plugins.common.money import minor_int, whole_quantity


def order_external_id(order_id: Any) -> str:
    """The purchase's external_id for a Square order: every event about the order is the same purchase."""
    return f"square:{text(order_id, 'The order id', longest=60)}"


def money(value: Any, what: str, currency: str | None = None) -> tuple[int, str]:
    """A ``Money`` as (amount in minor units, currency); its currency must be ``currency`` when given."""
    value = as_dict(value, what)
    code = text(value.get("currency"), f"{what}.currency", longest=3)
    if currency is not None and code != currency:
        raise MappingError(f"{what} is in {code}, not the order's {currency}.")
    return minor_int(value.get("amount")), code


def _item(line: Any, currency: str) -> Item | None:
    line = as_dict(line, "A line item")
    sku = optional_text(line.get("catalog_object_id"), longest=100)
    if not sku:
        sku = f"line:{text(line.get('uid') or line.get('name'), 'A line item uid')}"
    quantity = whole_quantity(line.get("quantity"))
    gross = (
        money(line["gross_sales_money"], "gross_sales_money", currency)[0]
        if line.get("gross_sales_money")
        else money(line.get("base_price_money"), "base_price_money", currency)[0] * (quantity or 1)
    )
    discount = (
        money(line["total_discount_money"], "total_discount_money", currency)[0]
        if line.get("total_discount_money")
        else 0
    )
    net = max(gross - discount, 0)
    if quantity is None:
        # Sold by weight or length ("1.5"): one unit at the line's price.
        return Item(sku=sku, quantity=1, unit_price_minor=net)
    if quantity <= 0:
        return None
    return Item(sku=sku, quantity=quantity, unit_price_minor=floor_div(net, quantity))


def map_order(order: dict[str, Any], customer: dict[str, Any] | None = None) -> PurchaseInput | Skip:
    """A completed order as a purchase at its location; ``customer`` is the order's customer, when it was read."""
    order = as_dict(order, "The order")
    external_id = order_external_id(order.get("id"))
    if order.get("state") != "COMPLETED":
        return Skip("order_not_completed", f"The order is {order.get('state')!r}; it is recorded once COMPLETED.")
    total, currency = money(order.get("total_money"), "total_money")
    items = tuple(
        item for item in (_item(line, currency) for line in as_list(order.get("line_items"), "line_items")) if item
    )
    shopper = customer if isinstance(customer, dict) else {}
    return PurchaseInput(
        external_id=external_id,
        location=text(order.get("location_id"), "location_id"),
        occurred_at=timestamp(order.get("closed_at") or order.get("created_at"), "closed_at"),
        currency=currency,
        total_minor=total,
        items=items,
        customer=Customer(
            card_number=optional_text(shopper.get("reference_id"), longest=40),
            email=optional_text(shopper.get("email_address")),
            phone=optional_text(shopper.get("phone_number"), longest=32),
        ),
    )


def map_refund(refund: dict[str, Any], payment: dict[str, Any] | None = None) -> ReturnInput | Skip:
    """A completed refund as a return of the original order's purchase, by the amount refunded.

    The original order is the refunded payment's ``order_id`` when the payment
    was read, else the refund's own ``order_id``.
    """
    refund = as_dict(refund, "The refund")
    refund_id = text(refund.get("id"), "The refund id", longest=80)
    if refund.get("status") != "COMPLETED":
        return Skip("refund_not_completed", f"The refund is {refund.get('status')!r}; it is returned once COMPLETED.")
    amount, _currency = money(refund.get("amount_money"), "amount_money")
    if amount <= 0:
        return Skip("no_money_refunded", "The refund gave no money back.")
    order_id = (payment or {}).get("order_id") or refund.get("order_id")
    return ReturnInput(
        external_id=f"square:refund:{refund_id}",
        purchase_external_id=order_external_id(order_id),
        amount_minor=amount,
    )
