"""The till signs exactly as the service checks (API.md, "Signed terminal requests")."""

from __future__ import annotations

import pytest

from loyalty.errors import BadSignature
from loyalty.merchants import signing as server
from pos_plugins.client import signing as till
from pos_plugins.client.client import card_number_from, luhn_valid
from pos_plugins.client.errors import InvalidCard
from tests.factories_merchants import signed_headers

BODY = b'{"external_id":"R-1","currency":"EUR","total_minor":1250}'


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/purchases", BODY),
        ("GET", "/api/v1/members?phone=%2B351912345678", b""),
        ("post", "/api/v1/purchases/pur_1/returns", '{"é": 1}'.encode()),
    ],
)
def test_the_till_signature_is_the_services(method, path, body):
    headers = till.signed_headers("s3cret", method, path, body, now=1_800_000_000)
    assert headers["X-Loyalty-Timestamp"] == "1800000000"
    assert headers["X-Loyalty-Signature"] == server.sign("s3cret", "1800000000", method, path, body)
    if method.isupper():
        assert headers == signed_headers("s3cret", method, path, body, timestamp=1_800_000_000)
    server.verify_signature(
        ["old", "s3cret"],
        timestamp=headers["X-Loyalty-Timestamp"],
        signature=headers["X-Loyalty-Signature"],
        method=method,
        path_with_query=path,
        body=body,
        now=1_800_000_100,
    )


def test_a_changed_body_no_longer_matches():
    headers = till.signed_headers("s3cret", "POST", "/api/v1/purchases", BODY, now=1_800_000_000)
    with pytest.raises(BadSignature):
        server.verify_signature(
            ["s3cret"],
            timestamp=headers["X-Loyalty-Timestamp"],
            signature=headers["X-Loyalty-Signature"],
            method="POST",
            path_with_query="/api/v1/purchases",
            body=BODY.replace(b"1250", b"9250"),
            now=1_800_000_000,
        )


def test_a_scanned_or_typed_card_number_is_accepted_with_spaces_and_dashes():
    from loyalty.members.cards import new_card_number

    card = new_card_number()
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    assert card_number_from(grouped) == card
    assert card_number_from(card.replace(card[4:8], f"-{card[4:8]}-") + "\r\n") == card
    assert luhn_valid(card)


@pytest.mark.parametrize("text", ["", "1234", "6042 0000 0000 0001", "60420000000000O0", "6042000000000000000"])
def test_a_mistyped_card_number_is_refused_before_any_request(text):
    with pytest.raises(InvalidCard):
        card_number_from(text)
