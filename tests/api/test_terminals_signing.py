"""Signed terminal requests over HTTP, against the real database (API.md "Signed terminal requests")."""

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.merchants.models import TerminalSecret
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant_key, make_terminal, make_till, signed_headers

API = "/api/v1"
PROGRAM = f"{API}/program"


@pytest.fixture()
def till(db_session):
    merchant, store, terminal, api_key, secret = make_till(db_session)
    return {"merchant": merchant, "store": store, "terminal": terminal, "key": api_key, "secret": secret}


def get_program(client, api_key, headers=None, path=PROGRAM):
    return client.get(path, headers={**bearer(api_key), **(headers or {})})


def refused(response, reason):
    assert response.status_code == 401, response.json
    assert response.json["reason"] == reason
    assert response.json["code"] == 401 and response.json["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_correctly_signed_request_is_accepted(client, till):
    response = get_program(client, till["key"], signed_headers(till["secret"], "GET", PROGRAM))
    assert response.status_code == 200 and response.json["currency"]


def test_the_query_string_is_part_of_what_is_signed(client, till):
    path = f"{PROGRAM}?probe=1&b=%20x"
    ok = get_program(client, till["key"], signed_headers(till["secret"], "GET", path), path=path)
    assert ok.status_code == 200
    tampered = get_program(client, till["key"], signed_headers(till["secret"], "GET", path), path=f"{PROGRAM}?probe=2")
    refused(tampered, "bad_signature")
    dropped = get_program(client, till["key"], signed_headers(till["secret"], "GET", path), path=PROGRAM)
    refused(dropped, "bad_signature")


def test_the_raw_body_and_the_method_are_part_of_what_is_signed(client, till):
    # A terminal may not change the program: a correctly signed request gets as far as the role check (403);
    # a tampered one is stopped at the signature (401).
    body = json.dumps({"pending_days": 0}).encode()
    headers = {**bearer(till["key"]), **signed_headers(till["secret"], "PATCH", PROGRAM, body)}
    ok = client.patch(PROGRAM, data=body, content_type="application/json", headers=headers)
    assert ok.status_code == 403 and ok.json["reason"] == "forbidden"

    tampered = json.dumps({"pending_days": 1}).encode()
    refused(client.patch(PROGRAM, data=tampered, content_type="application/json", headers=headers), "bad_signature")
    spaced = json.dumps({"pending_days": 0}, indent=1).encode()
    refused(client.patch(PROGRAM, data=spaced, content_type="application/json", headers=headers), "bad_signature")
    signed_as_post = {**bearer(till["key"]), **signed_headers(till["secret"], "POST", PROGRAM, body)}
    refused(client.patch(PROGRAM, data=body, content_type="application/json", headers=signed_as_post), "bad_signature")


def test_a_signature_made_with_another_secret_is_refused(client, db_session, till):
    _other, _key, other_secret = make_terminal(db_session, till["store"].id)
    for secret in ("lss_guessed", other_secret, till["key"]):
        refused(get_program(client, till["key"], signed_headers(secret, "GET", PROGRAM)), "bad_signature")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Loyalty-Timestamp": str(int(time.time()))},
        {"X-Loyalty-Signature": "v1=" + "0" * 64},
        {"X-Loyalty-Timestamp": "", "X-Loyalty-Signature": ""},
        {"X-Loyalty-Timestamp": str(int(time.time())), "X-Loyalty-Signature": "v2=" + "0" * 64},
        {"X-Loyalty-Timestamp": str(int(time.time())), "X-Loyalty-Signature": "sha256=abc"},
    ],
    ids=["none", "timestamp-only", "signature-only", "empty", "unknown-scheme", "malformed"],
)
def test_missing_or_malformed_signing_headers_are_bad_signatures(client, till, headers):
    refused(get_program(client, till["key"], headers), "bad_signature")


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_a_timestamp_more_than_300_seconds_away_either_way_is_stale(client, till, skew):
    timestamp = int(time.time()) + skew
    headers = signed_headers(till["secret"], "GET", PROGRAM, timestamp=timestamp)
    refused(get_program(client, till["key"], headers), "stale_request")


@pytest.mark.parametrize("skew", [-290, 290])
def test_a_timestamp_a_little_off_either_way_is_accepted(client, till, skew):
    headers = signed_headers(till["secret"], "GET", PROGRAM, timestamp=int(time.time()) + skew)
    assert get_program(client, till["key"], headers).status_code == 200


# Test ids must not depend on the clock: every xdist worker has to collect the same tests.
@pytest.mark.parametrize(
    "timestamp",
    ["yesterday", "{now}.0", "1e9", "-5", " "],
    ids=["word", "now-with-decimals", "exponent", "negative", "blank"],
)
def test_a_timestamp_that_is_not_whole_seconds_is_stale(client, till, timestamp):
    timestamp = timestamp.format(now=int(time.time()))
    headers = signed_headers(till["secret"], "GET", PROGRAM, timestamp=timestamp)
    refused(get_program(client, till["key"], headers), "stale_request")


def test_after_rotation_both_secrets_work_until_the_old_one_expires(client, db_session, till):
    merchant_key = make_merchant_key(db_session, till["merchant"].id)
    old = till["secret"]
    rotated = client.post(f"{API}/terminals/{till['terminal'].id}/rotate-secret", headers=bearer(merchant_key))
    assert rotated.status_code == 200
    new = rotated.json["signing_secret"]
    assert new != old and new.startswith("lss_")
    # The default grace period is the service's SIGNING_SECRET_GRACE_HOURS (24).
    assert rotated.json["previous_valid_until"].endswith("Z")
    for secret in (old, new):
        assert get_program(client, till["key"], signed_headers(secret, "GET", PROGRAM)).status_code == 200

    # Once the grace period is over, only the new secret works.
    db_session.expire_all()
    rows = db_session.scalars(select(TerminalSecret).where(TerminalSecret.terminal_id == till["terminal"].id)).all()
    ended = [row for row in rows if row.expires_at is not None]
    assert len(ended) == 1 and timedelta(hours=23) < ended[0].expires_at - utcnow() <= timedelta(hours=24)
    ended[0].expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    refused(get_program(client, till["key"], signed_headers(old, "GET", PROGRAM)), "bad_signature")
    assert get_program(client, till["key"], signed_headers(new, "GET", PROGRAM)).status_code == 200


def test_a_rotation_without_grace_ends_the_old_secret_at_once(client, db_session, till):
    admin = make_key(db_session, "admin")
    rotated = client.post(
        f"{API}/terminals/{till['terminal'].id}/rotate-secret", json={"grace_hours": 0}, headers=bearer(admin)
    ).json
    refused(get_program(client, till["key"], signed_headers(till["secret"], "GET", PROGRAM)), "bad_signature")
    new = rotated["signing_secret"]
    assert get_program(client, till["key"], signed_headers(new, "GET", PROGRAM)).status_code == 200


def test_rotating_twice_keeps_every_secret_of_the_grace_period(client, db_session, till):
    admin = make_key(db_session, "admin")
    path = f"{API}/terminals/{till['terminal'].id}/rotate-secret"
    second = client.post(path, json={"grace_hours": 2}, headers=bearer(admin)).json["signing_secret"]
    third = client.post(path, json={"grace_hours": 48}, headers=bearer(admin)).json["signing_secret"]
    for secret in (till["secret"], second, third):
        assert get_program(client, till["key"], signed_headers(secret, "GET", PROGRAM)).status_code == 200
    # A secret already on its way out keeps its earlier end; a longer grace does not revive it.
    db_session.expire_all()
    ends = sorted(
        row.expires_at
        for row in db_session.scalars(select(TerminalSecret).where(TerminalSecret.terminal_id == till["terminal"].id))
        if row.expires_at is not None
    )
    assert len(ends) == 2 and ends[0] - utcnow() <= timedelta(hours=2) < ends[1] - utcnow()


def test_without_required_signing_unsigned_requests_pass_but_signed_ones_must_be_valid(client, db_session):
    _merchant, _store, _terminal, api_key, secret = make_till(db_session, require_signed_requests=False)
    assert get_program(client, api_key).status_code == 200
    assert get_program(client, api_key, signed_headers(secret, "GET", PROGRAM)).status_code == 200
    refused(get_program(client, api_key, signed_headers("lss_wrong", "GET", PROGRAM)), "bad_signature")
    refused(get_program(client, api_key, {"X-Loyalty-Timestamp": str(int(time.time()))}), "bad_signature")
    stale = signed_headers(secret, "GET", PROGRAM, timestamp=int(time.time()) - 600)
    refused(get_program(client, api_key, stale), "stale_request")


def test_an_admin_turning_signing_off_and_on_takes_effect_at_once(client, db_session, till):
    admin = make_key(db_session, "admin")
    refused(get_program(client, till["key"]), "bad_signature")
    path = f"{API}/merchants/{till['merchant'].id}"
    client.patch(path, json={"require_signed_requests": False}, headers=bearer(admin))
    assert get_program(client, till["key"]).status_code == 200
    client.patch(path, json={"require_signed_requests": True}, headers=bearer(admin))
    refused(get_program(client, till["key"]), "bad_signature")


def test_a_revoked_terminal_is_unauthenticated_even_when_it_signs(client, db_session, till):
    admin = make_key(db_session, "admin")
    client.post(f"{API}/terminals/{till['terminal'].id}/revoke", headers=bearer(admin))
    refused(get_program(client, till["key"], signed_headers(till["secret"], "GET", PROGRAM)), "unauthenticated")


def test_signing_headers_do_not_matter_for_other_keys(client, db_session):
    admin = make_key(db_session, "admin")
    headers = {"X-Loyalty-Timestamp": "0", "X-Loyalty-Signature": "v1=bad"}
    assert get_program(client, admin, headers).status_code == 200
