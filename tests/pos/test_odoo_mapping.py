"""Odoo Point of Sale orders as read over JSON-RPC, as purchases and returns (pure mapping)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pos_plugins.common.inputs import Customer, Item, MappingError, PurchaseInput, ReturnInput
from pos_plugins.odoo.mapping import map_order, order_reference
from tests.pos.connectors import sample


def paid():
    return copy.deepcopy(sample("odoo", "pos_order_paid.json"))


def test_a_paid_order_maps_to_a_purchase_with_percentage_discounts_and_categories():
    assert map_order(paid()) == PurchaseInput(
        external_id="odoo:cafe-lisboa:1042",
        location="2",
        occurred_at=datetime(2024, 5, 2, 14, 3, 11, tzinfo=UTC),
        currency="EUR",
        total_minor=988,
        items=(
            Item(sku="ESP-DBL", category="Coffee", quantity=2, unit_price_minor=250),
            # 3 x 1.60 less 10% = 4.32: 1.44 a unit.
            Item(sku="product:44", category="Bakery", quantity=3, unit_price_minor=144),
        ),
        customer=Customer(email="ana.silva@example.com", phone="+351912345678"),
    )


def test_the_internal_reference_is_read_from_the_products_display_name_when_products_are_not_sent():
    envelope = paid()
    del envelope["products"]
    items = map_order(envelope).items
    assert [(item.sku, item.category) for item in items] == [("ESP-DBL", None), ("product:44", None)]


@pytest.mark.parametrize(
    ("currency", "price_unit", "amount_total", "total_minor", "unit"),
    [
        ("JPY", Decimal("450.0"), Decimal("900.0"), 900, 450),
        ("BHD", Decimal("1.25"), Decimal("2.75"), 2750, 1250),
        ("KWD", Decimal("0.125"), Decimal("0.275"), 275, 125),
        ("EUR", Decimal("2.5"), Decimal("5.300000000000001"), 530, 250),
    ],
)
def test_amounts_become_minor_units_of_the_orders_currency(currency, price_unit, amount_total, total_minor, unit):
    envelope = paid()
    envelope["order"] |= {"currency_id": [9, currency], "amount_total": amount_total}
    envelope["lines"] = [envelope["lines"][0] | {"price_unit": price_unit, "qty": Decimal("2.0")}]
    purchase = map_order(envelope)
    assert (purchase.currency, purchase.total_minor, purchase.items[0].unit_price_minor) == (
        currency,
        total_minor,
        unit,
    )


def test_a_line_sold_by_weight_is_one_unit_at_its_discounted_price():
    envelope = paid()
    envelope["lines"] = [
        envelope["lines"][1] | {"qty": Decimal("0.35"), "price_unit": Decimal("18.0"), "discount": Decimal("0")}
    ]
    assert map_order(envelope).items == (Item(sku="product:44", category="Bakery", quantity=1, unit_price_minor=630),)


def test_a_refund_order_maps_to_a_return_of_the_original_orders_items():
    assert map_order(sample("odoo", "pos_order_refund.json")) == ReturnInput(
        external_id="odoo:cafe-lisboa:1057", purchase_external_id="odoo:cafe-lisboa:1042", items=(("ESP-DBL", 2),)
    )


def test_a_refund_of_a_fraction_returns_its_amount():
    refund = copy.deepcopy(sample("odoo", "pos_order_refund.json"))
    refund["lines"][0]["qty"] = Decimal("-0.5")
    refund["order"]["amount_total"] = Decimal("-1.33")
    assert map_order(refund) == ReturnInput(
        external_id="odoo:cafe-lisboa:1057", purchase_external_id="odoo:cafe-lisboa:1042", amount_minor=133
    )


def test_a_refund_naming_no_single_original_is_not_recorded():
    refund = copy.deepcopy(sample("odoo", "pos_order_refund.json"))
    refund["order"]["refunded_order_ids"] = [1042, 1043]
    assert map_order(refund).reason == "refund_without_one_original"


def test_an_unpaid_order_is_not_a_purchase_yet_and_an_order_is_known_by_its_uuid():
    envelope = paid()
    envelope["order"]["state"] = "draft"
    assert map_order(envelope).reason == "order_not_paid"
    assert order_reference(envelope["order"]) == "3f7c2a9e-6b1d-4c8e-9a52-0d4e8b1f7c63"
    del envelope["order"]["uuid"]
    assert order_reference(envelope["order"]) == "Order 00004-002-0042"


def test_a_partner_with_a_card_barcode_is_looked_up_by_it():
    envelope = paid()
    envelope["partner"]["barcode"] = "6042123456789012"
    assert map_order(envelope).customer.card_number == "6042123456789012"
    envelope["partner"] = None
    assert map_order(envelope).customer.identifiers() == []


def test_a_malformed_order_is_a_mapping_error():
    for change in ({"database": "no spaces allowed"}, {"order": {"id": 1}}, {"lines": [{"qty": 1}]}):
        envelope = paid() | change
        if "order" in change:
            envelope["order"] |= {"state": "paid"}
        with pytest.raises(MappingError):
            map_order(envelope)
    envelope = paid()
    envelope["lines"][0]["discount"] = Decimal("120")
    with pytest.raises(MappingError):
        map_order(envelope)
