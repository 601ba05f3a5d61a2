"""The signed-request format of API.md, checked without a server or a database."""

import hashlib
import hmac

import pytest

from loyalty.errors import BadSignature, StaleRequest
from loyalty.merchants.signing import (
    MAX_SKEW_SECONDS,
    check_timestamp,
    parse_signature,
    sign,
    signing_message,
    verify_signature,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
SECRET = "lss_test-secret"
PATH = "/api/v1/purchases?store_id=sto_1"
BODY = b'{"total_minor": 4250}'


def _request(**overrides):
    request = {
        "timestamp": str(NOW),
        "signature": sign(SECRET, str(NOW), "POST", PATH, BODY),
        "method": "POST",
        "path_with_query": PATH,
        "body": BODY,
        "now": NOW,
    }
    request.update(overrides)
    return request


def test_the_signed_message_is_timestamp_method_path_and_raw_body_joined_by_dots():
    assert (
        signing_message("1700000000", "post", "/api/v1/x?a=1", b'{"b": 2}') == b'1700000000.POST./api/v1/x?a=1.{"b": 2}'
    )
    assert signing_message("1700000000", "GET", "/api/v1/x", b"") == b"1700000000.GET./api/v1/x."


def test_the_signature_is_v1_and_the_hex_hmac_sha256_of_the_message():
    expected = hmac.new(SECRET.encode(), f"{NOW}.POST.{PATH}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, str(NOW), "POST", PATH, BODY) == f"v1={expected}"


def test_a_known_vector_stays_stable():
    # Pinned, so that a change of the message format cannot slip past the tills already in the field.
    assert sign("secret", "1700000000", "GET", "/api/v1/program", b"") == (
        "v1=b054c33e82e36188c0e93fff02a54815fcba064fb6ff4466c034d37d0ed0eb6d"
    )


def test_a_correctly_signed_request_passes():
    verify_signature([SECRET], **_request())


def test_any_of_several_valid_secrets_is_accepted():
    verify_signature(["lss_old", SECRET, "lss_other"], **_request())


def test_upper_case_hex_is_accepted():
    signature = "v1=" + sign(SECRET, str(NOW), "POST", PATH, BODY)[3:].upper()
    verify_signature([SECRET], **_request(signature=signature))


@pytest.mark.parametrize(
    "overrides",
    [
        {"body": BODY + b" "},
        {"body": b'{"total_minor": 4251}'},
        {"path_with_query": "/api/v1/purchases?store_id=sto_2"},
        {"path_with_query": "/api/v1/purchases"},
        {"method": "PUT"},
        {"signature": sign("lss_wrong", str(NOW), "POST", PATH, BODY)},
        {"timestamp": str(NOW - 1), "now": NOW},
    ],
    ids=["body-appended", "body-changed", "query-changed", "query-dropped", "method", "wrong-secret", "timestamp"],
)
def test_any_change_to_a_signed_request_breaks_its_signature(overrides):
    with pytest.raises(BadSignature):
        verify_signature([SECRET], **_request(**overrides))


def test_no_secret_at_all_never_matches():
    with pytest.raises(BadSignature):
        verify_signature([], **_request())


@pytest.mark.parametrize(
    "signature",
    [None, "", "v1=", "v2=" + "a" * 64, "a" * 64, "v1=" + "a" * 63, "v1=" + "g" * 64, "v1=" + "é" * 64],
)
def test_missing_or_malformed_signatures_are_bad_signatures(signature):
    with pytest.raises(BadSignature):
        verify_signature([SECRET], **_request(signature=signature))


def test_a_missing_timestamp_is_a_bad_signature():
    with pytest.raises(BadSignature):
        verify_signature([SECRET], **_request(timestamp=None))


@pytest.mark.parametrize("skew", [-MAX_SKEW_SECONDS, -1, 0, 1, MAX_SKEW_SECONDS])
def test_timestamps_within_300_seconds_either_way_are_fresh(skew):
    check_timestamp(str(NOW + skew), now=NOW)
    timestamp = str(NOW + skew)
    verify_signature([SECRET], **_request(timestamp=timestamp, signature=sign(SECRET, timestamp, "POST", PATH, BODY)))


@pytest.mark.parametrize("skew", [-MAX_SKEW_SECONDS - 1, MAX_SKEW_SECONDS + 1, -86400, 86400])
def test_timestamps_further_than_300_seconds_either_way_are_stale_even_when_signed_right(skew):
    timestamp = str(NOW + skew)
    with pytest.raises(StaleRequest):
        verify_signature(
            [SECRET], **_request(timestamp=timestamp, signature=sign(SECRET, timestamp, "POST", PATH, BODY))
        )


@pytest.mark.parametrize("timestamp", ["abc", f"{NOW}.5", f"{NOW}ms", "-1", "1e9", "١٧٦٧٢٢٥٦٠٠", "9" * 40])
def test_a_timestamp_that_is_not_whole_unix_seconds_is_stale(timestamp):
    with pytest.raises(StaleRequest):
        verify_signature(
            [SECRET], **_request(timestamp=timestamp, signature=sign(SECRET, timestamp, "POST", PATH, BODY))
        )


def test_parse_signature_returns_the_lower_case_digest():
    assert parse_signature(" v1=" + "AB" * 32 + " ") == "ab" * 32
