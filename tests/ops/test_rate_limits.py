"""Rate limits on the API's exposed operations: past a limit, 429 ``rate_limited`` in the
error envelope with Retry-After, and other clients (addresses, keys, members) go on as before."""

from __future__ import annotations

import pytest

from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.factories_purchases import buy

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.23"}


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.json
    assert response.json["reason"] == "rate_limited"
    assert response.json["code"] == 429 and response.json["status"] == "Too Many Requests"
    assert response.json["message"]
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture()
def limits(app, monkeypatch):
    def set_limit(setting: str, value: str) -> None:
        monkeypatch.setitem(app.config, setting, value)

    return set_limit


def test_an_address_that_keeps_presenting_bad_keys_is_refused_and_others_are_not(client, db_session, limits):
    limits("RATE_LIMIT_API_AUTH_FAILURES", "3 per 5 minutes")
    admin = make_key(db_session, "admin")
    for attempt in range(3):
        wrong = client.get("/api/v1/program", headers=bearer(f"guess-{attempt}"), environ_base=ATTACKER)
        assert wrong.status_code == 401

    refused = client.get("/api/v1/program", headers=bearer("guess-4"), environ_base=ATTACKER)
    assert_rate_limited(refused)
    assert_rate_limited(client.get("/api/v1/program", headers=bearer("guess-5"), environ_base=ATTACKER))
    # A key that works is not held up (keys are 256 random bits: the limit is against floods, not guessing).
    assert client.get("/api/v1/program", headers=bearer(admin), environ_base=ATTACKER).status_code == 200

    assert client.get("/api/v1/program", headers=bearer(admin), environ_base=NEIGHBOUR).status_code == 200
    assert client.get("/api/v1/program", headers=bearer("typo"), environ_base=NEIGHBOUR).status_code == 401


def test_requests_without_a_key_and_with_a_good_key_do_not_count_as_failures(client, db_session, limits):
    limits("RATE_LIMIT_API_AUTH_FAILURES", "2 per 5 minutes")
    admin = make_key(db_session, "admin")
    for _ in range(5):
        assert client.get("/api/v1/program", environ_base=ATTACKER).status_code == 401
        assert client.get("/api/v1/program", headers=bearer(admin), environ_base=ATTACKER).status_code == 200


def test_bad_terminal_signatures_count_as_authentication_failures(client, db_session, limits):
    limits("RATE_LIMIT_API_AUTH_FAILURES", "2 per 5 minutes")
    _merchant, _store, _terminal, api_key, secret = make_till(db_session)
    forged = {**bearer(api_key), **signed_headers("not-the-secret", "GET", "/api/v1/program")}
    for _ in range(2):
        assert client.get("/api/v1/program", headers=forged, environ_base=ATTACKER).json["reason"] == "bad_signature"
    assert_rate_limited(client.get("/api/v1/program", headers=forged, environ_base=ATTACKER))
    honest = {**bearer(api_key), **signed_headers(secret, "GET", "/api/v1/program")}
    assert client.get("/api/v1/program", headers=honest, environ_base=NEIGHBOUR).status_code != 429


def _enrol(client, api_key, secret, email):
    import json

    body = json.dumps({"email": email}).encode()
    headers = {**bearer(api_key), **signed_headers(secret, "POST", "/api/v1/members", body)}
    headers["Content-Type"] = "application/json"
    return client.post("/api/v1/members", data=body, headers=headers)


def test_a_terminal_key_enrols_at_most_its_limit_and_other_keys_go_on(client, db_session, limits):
    limits("RATE_LIMIT_ENROLMENTS", "2 per hour")
    _m, _s, _t, busy_key, busy_secret = make_till(db_session)
    _m2, _s2, _t2, other_key, other_secret = make_till(db_session)
    assert _enrol(client, busy_key, busy_secret, "one@example.com").status_code == 201
    assert _enrol(client, busy_key, busy_secret, "two@example.com").status_code == 201

    refused = _enrol(client, busy_key, busy_secret, "three@example.com")
    assert_rate_limited(refused)
    assert (
        client.get("/api/v1/members?email=three@example.com", headers=bearer(make_key(db_session))).json["items"] == []
    )

    assert _enrol(client, other_key, other_secret, "three@example.com").status_code == 201


def test_the_operators_admin_keys_are_not_limited_in_enrolment(client, db_session, limits):
    limits("RATE_LIMIT_ENROLMENTS", "1 per hour")
    admin = bearer(make_key(db_session, "admin"))
    for n in range(3):
        assert client.post("/api/v1/members", json={"email": f"bulk{n}@example.com"}, headers=admin).status_code == 201


def test_failed_claims_for_one_member_are_limited_and_other_members_claim_freely(client, db_session, limits):
    limits("RATE_LIMIT_CLAIM_FAILURES", "3 per hour")
    admin = bearer(make_key(db_session, "admin"))
    _m, store, *_ = make_till(db_session)
    target, other = make_member(db_session), make_member(db_session)
    codes = [buy(db_session, store).receipt["claim_code"] for _ in range(2)]

    for guess in ("AAAA-0000", "BBBB-1111", "CCCC-2222"):
        wrong = client.post(f"/api/v1/members/{target.id}/claims", json={"claim_code": guess}, headers=admin)
        assert wrong.status_code == 404
    # Even the right code waits now.
    refused = client.post(f"/api/v1/members/{target.id}/claims", json={"claim_code": codes[0]}, headers=admin)
    assert_rate_limited(refused)

    assert (
        client.post(f"/api/v1/members/{other.id}/claims", json={"claim_code": codes[0]}, headers=admin).status_code
        == 201
    )


def test_successful_claims_are_not_limited(client, db_session, limits):
    limits("RATE_LIMIT_CLAIM_FAILURES", "1 per hour")
    admin = bearer(make_key(db_session, "admin"))
    _m, store, *_ = make_till(db_session)
    member = make_member(db_session)
    for _ in range(3):
        code = buy(db_session, store).receipt["claim_code"]
        assert (
            client.post(f"/api/v1/members/{member.id}/claims", json={"claim_code": code}, headers=admin).status_code
            == 201
        )


def test_merchant_applications_from_one_address_are_limited_and_other_addresses_apply(client, db_session, limits):
    limits("RATE_LIMIT_MERCHANT_APPLICATIONS", "2 per hour")

    def apply(n: int, who: dict):
        body = {"name": f"Shop {n}", "contact_email": f"owner{n}@example.com"}
        return client.post("/api/v1/merchants/applications", json=body, environ_base=who)

    assert apply(1, ATTACKER).status_code == 202
    assert apply(2, ATTACKER).status_code == 202
    assert_rate_limited(apply(3, ATTACKER))
    assert apply(4, NEIGHBOUR).status_code == 202


def test_the_openapi_document_names_the_429_answers(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "429" in paths["/api/v1/merchants/applications"]["post"]["responses"]
    assert "429" in paths["/api/v1/members"]["post"]["responses"]
    assert "429" in paths["/api/v1/members/{member_id}/claims"]["post"]["responses"]
    assert "429" in paths["/api/v1/program"]["get"]["responses"]


def test_console_sign_in_limits_are_settings_and_their_429_says_when_to_come_back(client, db_session, limits):
    from tests.factories_staff import make_staff, sign_in

    limits("RATE_LIMIT_SIGN_IN_PER_ACCOUNT", "2 per 15 minutes")
    user = make_staff(db_session, "admin")
    for _ in range(2):
        assert sign_in(client, user.email, "wrong password 123").status_code == 401
    refused = sign_in(client, user.email)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
