"""Square's documented Order, Customer and PaymentRefund objects as purchases and returns (pure mapping)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from pos_plugins.common.inputs import Customer, Item, MappingError, PurchaseInput, ReturnInput, Skip
from pos_plugins.common.money import AmountError
from pos_plugins.square.mapping import map_order, map_refund
from tests.pos.connectors import sample


def order():
    return copy.deepcopy(sample("square", "retrieve_order.json")["order"])


def test_a_completed_order_maps_to_a_purchase_with_its_lines_after_discounts():
    customer = sample("square", "retrieve_customer.json")["customer"]
    assert map_order(order(), customer) == PurchaseInput(
        external_id="square:eA3vssLHKJrv9H0IdJCM3gNqfdcZY",
        location="L88917AVBK2S5",
        occurred_at=datetime(2024, 3, 5, 17, 25, 39, tzinfo=UTC),
        currency="USD",
        total_minor=2475,
        items=(
            Item(sku="BJHURKYAIAQIDMY267GZNYNW", quantity=2, unit_price_minor=405),
            Item(sku="W62UWFY35CWMYGVWK6TWJDNI", quantity=1, unit_price_minor=315),
            # Half a kilogram: one unit at the line's price.
            Item(sku="XQ4ZRM2DJVX6RDJ3B2NJ2FVB", quantity=1, unit_price_minor=1350),
        ),
        customer=Customer(card_number="YOUR_REFERENCE_ID", email="Amelia.Earhart@example.com", phone="+12025550143"),
    )


def test_money_is_already_in_minor_units_whatever_the_currency():
    jpy = order()
    jpy["total_money"] = {"amount": 1200, "currency": "JPY"}
    jpy["line_items"] = [
        {
            "uid": "a",
            "catalog_object_id": "MATCHA",
            "quantity": "3",
            "base_price_money": {"amount": 400, "currency": "JPY"},
            "gross_sales_money": {"amount": 1200, "currency": "JPY"},
            "total_discount_money": {"amount": 0, "currency": "JPY"},
        }
    ]
    purchase = map_order(jpy)
    assert (purchase.currency, purchase.total_minor, purchase.items) == ("JPY", 1200, (Item("MATCHA", 3, 400),))


def test_a_line_without_catalog_object_is_named_by_its_uid_and_without_gross_sales_uses_its_base_price():
    custom = order()
    custom["line_items"] = [
        {
            "uid": "custom-1",
            "name": "Custom amount",
            "quantity": "2",
            "base_price_money": {"amount": 500, "currency": "USD"},
        }
    ]
    assert map_order(custom).items == (Item("line:custom-1", 2, 500),)


def test_an_order_that_is_not_completed_is_not_a_purchase_yet():
    for state in ("OPEN", "CANCELED", "DRAFT"):
        assert map_order(order() | {"state": state}).reason == "order_not_completed"


def test_an_order_without_customer_is_anonymous():
    assert map_order(order()).customer.identifiers() == []


def test_an_amount_that_is_not_an_integer_or_a_line_in_another_currency_is_refused():
    broken = order()
    broken["total_money"] = {"amount": "24.75", "currency": "USD"}
    with pytest.raises(AmountError):
        map_order(broken)
    other = order()
    other["line_items"][0]["gross_sales_money"]["currency"] = "EUR"
    with pytest.raises(MappingError):
        map_order(other)


def test_a_completed_refund_returns_its_amount_from_the_payments_original_order():
    refund = sample("square", "refund_updated.json")["data"]["object"]["refund"]
    payment = sample("square", "retrieve_payment.json")["payment"]
    assert map_refund(refund, payment) == ReturnInput(
        external_id=f"square:refund:{refund['id']}",
        purchase_external_id="square:eA3vssLHKJrv9H0IdJCM3gNqfdcZY",
        amount_minor=810,
    )
    # Without the payment, the refund's own order_id is all there is.
    assert map_refund(refund).purchase_external_id == "square:1JLEUZeEooAIX8HMqm9kvWd69aQZY"


def test_a_refund_not_completed_is_nothing_to_return_yet():
    refund = sample("square", "refund_updated.json")["data"]["object"]["refund"]
    for status in ("PENDING", "REJECTED", "FAILED"):
        assert map_refund(refund | {"status": status}) == Skip(
            "refund_not_completed", map_refund(refund | {"status": status}).detail
        )
