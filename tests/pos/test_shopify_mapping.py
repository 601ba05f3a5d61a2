"""Shopify's documented order and refund payloads as purchases and returns (pure mapping, no service)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from pos_plugins.common.inputs import Customer, Item, MappingError, PurchaseInput, ReturnInput, Skip
from pos_plugins.common.money import AmountError
from pos_plugins.shopify.mapping import map_order, map_refund
from tests.pos.connectors import sample


def money_set(amount: str, currency: str) -> dict:
    return {
        "shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency},
    }


def order_in(currency: str, *, prices: list[str], discounts: list[str], total: str, quantities=None) -> dict:
    """The sample order as a shop in ``currency`` sends it: each line's price and discount, the total."""
    order = copy.deepcopy(sample("shopify", "orders_paid.json"))
    order["currency"] = order["presentment_currency"] = currency
    order["current_total_price"] = total
    order["current_total_price_set"] = money_set(total, currency)
    for n, line in enumerate(order["line_items"]):
        line["price"] = prices[n]
        line["price_set"] = money_set(prices[n], currency)
        line["quantity"] = (quantities or [1, 1, 1])[n]
        line["discount_allocations"] = [
            {"amount": discounts[n], "amount_set": money_set(discounts[n], currency), "discount_application_index": 0}
        ]
    return order


def test_a_paid_pos_order_maps_to_a_purchase_with_discounted_lines():
    purchase = map_order(sample("shopify", "orders_paid.json"))

    assert purchase == PurchaseInput(
        external_id="shopify:450789469",
        location="487838322",
        occurred_at=datetime(2024, 1, 10, 16, 0, tzinfo=UTC),
        currency="USD",
        total_minor=59894,
        items=(
            Item(sku="IPOD2008GREEN", quantity=1, unit_price_minor=19566),
            Item(sku="IPOD2008RED", quantity=1, unit_price_minor=19567),
            Item(sku="IPOD2008BLACK", quantity=1, unit_price_minor=19567),
        ),
        customer=Customer(email="bob.norman@mail.example.com", phone="+16136120707"),
    )


@pytest.mark.parametrize(
    ("currency", "prices", "discounts", "total", "total_minor", "units"),
    [
        ("JPY", ["1200", "800", "500"], ["100", "0", "50"], "2350", 2350, [1100, 800, 450]),
        ("JPY", ["1200.00", "800.00", "500.00"], ["0.00", "0.00", "0.00"], "2500.00", 2500, [1200, 800, 500]),
        ("EUR", ["4.50", "3.50", "2.00"], ["0.45", "0.35", "0.20"], "9.00", 900, [405, 315, 180]),
        ("KWD", ["1.250", "0.750", "2.005"], ["0.125", "0.000", "0.005"], "3.875", 3875, [1125, 750, 2000]),
        ("BHD", ["0.500", "0.500", "0.500"], ["0.050", "0.050", "0.050"], "1.350", 1350, [450, 450, 450]),
    ],
)
def test_amounts_become_minor_units_of_the_shops_currency(currency, prices, discounts, total, total_minor, units):
    purchase = map_order(order_in(currency, prices=prices, discounts=discounts, total=total))
    assert purchase.currency == currency
    assert purchase.total_minor == total_minor
    assert [item.unit_price_minor for item in purchase.items] == units


def test_a_discount_that_does_not_divide_among_units_rounds_each_unit_down():
    order = order_in(
        "USD", prices=["10.00", "1.00", "1.00"], discounts=["1.00", "0.00", "0.00"], total="31.00", quantities=[3, 1, 1]
    )
    first = map_order(order).items[0]
    # 30.00 - 1.00 = 29.00 over three units: 9.666... each, 9.66 kept, never more than was paid.
    assert (first.quantity, first.unit_price_minor) == (3, 966)


def test_an_amount_with_more_decimals_than_the_currency_is_refused():
    with pytest.raises(AmountError):
        map_order(order_in("JPY", prices=["1200.5", "800", "500"], discounts=["0", "0", "0"], total="2500.5"))


@pytest.mark.parametrize(
    ("status", "reason"),
    [("pending", "order_not_paid"), ("authorized", "order_not_paid"), ("voided", "order_not_paid")],
)
def test_an_order_not_yet_paid_is_not_a_purchase_yet(status, reason):
    order = sample("shopify", "orders_paid.json") | {"financial_status": status}
    assert map_order(order) == Skip(reason, map_order(order).detail)


def test_a_cancelled_order_is_not_a_purchase():
    assert (
        map_order(sample("shopify", "orders_paid.json") | {"cancelled_at": "2024-01-10T12:00:00-05:00"}).reason
        == "order_cancelled"
    )


def test_an_order_already_refunded_counts_what_was_paid_since_each_refund_is_returned_on_its_own():
    order = sample("shopify", "orders_paid.json")
    order |= {
        "financial_status": "partially_refunded",
        "current_total_price": "399.29",
        "current_total_price_set": money_set("399.29", "USD"),
        "refunds": [sample("shopify", "refunds_create.json")],
    }
    assert map_order(order).total_minor == 59894


def test_an_online_order_has_no_location_and_a_line_without_sku_is_named_by_its_variant():
    order = sample("shopify", "orders_paid.json") | {"location_id": None}
    order["line_items"][0]["sku"] = ""
    purchase = map_order(order)
    assert purchase.location is None
    assert purchase.items[0].sku == "variant:39072856"


def test_a_loyalty_card_cart_attribute_names_the_member_and_no_contact_means_anonymous():
    order = sample("shopify", "orders_paid.json")
    order |= {
        "note_attributes": [{"name": "loyalty_card", "value": "6042 1234 5678 9012"}],
        "email": None,
        "phone": None,
    }
    order["customer"] = None
    assert map_order(order).customer == Customer(card_number="6042 1234 5678 9012")
    order["note_attributes"] = []
    assert map_order(order).customer.identifiers() == []


def test_a_malformed_order_is_a_mapping_error():
    for broken in ({"id": None}, {"line_items": "x"}, {"processed_at": "yesterday", "created_at": None}):
        with pytest.raises(MappingError):
            map_order(sample("shopify", "orders_paid.json") | broken)


def test_a_refund_maps_to_a_return_of_the_money_given_back():
    assert map_refund(sample("shopify", "refunds_create.json")) == ReturnInput(
        external_id="shopify:refund:509562969", purchase_external_id="shopify:450789469", amount_minor=19965
    )


def test_a_refund_paid_in_another_presentment_currency_returns_its_lines_and_tax_in_shop_money():
    refund = sample("shopify", "refunds_create.json")
    refund["transactions"][0] |= {"amount": "180.00", "currency": "EUR"}
    refund["order_adjustments"] = [
        {
            "id": 1,
            "kind": "shipping_refund",
            "amount": "-5.00",
            "amount_set": money_set("-5.00", "USD"),
            "tax_amount_set": money_set("0.00", "USD"),
        }
    ]
    assert map_refund(refund).amount_minor == 19567 + 398 + 500


def test_a_partial_refund_returns_only_its_amount():
    refund = sample("shopify", "refunds_create.json")
    refund["transactions"][0]["amount"] = "50.00"
    assert map_refund(refund).amount_minor == 5000


def test_a_refund_of_no_money_is_nothing_to_return():
    refund = sample("shopify", "refunds_create.json") | {"transactions": [], "refund_line_items": []}
    assert map_refund(refund).reason == "no_money_refunded"
    failed = sample("shopify", "refunds_create.json")
    failed["transactions"][0]["status"] = "failure"
    failed["refund_line_items"] = []
    assert isinstance(map_refund(failed), Skip)
