"""The service as an operator runs it: migrations, the keys command, gunicorn and a
worker as separate processes sharing one database and one Redis.

A partner merchant is onboarded through the API, its terminal enrols a member
with a signed request and fetches the QR card, and the worker delivers the
welcome notification.
"""

from __future__ import annotations

import time

import pytest

from tests.service import (
    call,
    flask_cli,
    free_port,
    service_environment,
    start_web,
    start_worker,
    stop,
    wait_until_healthy,
)


@pytest.fixture(scope="module")
def service_env(tmp_path_factory):
    with service_environment(tmp_path_factory.mktemp("e2e-instance"), "e2e") as env:
        yield env


@pytest.fixture(scope="module")
def service(service_env):
    flask_cli(service_env, "db", "upgrade")
    admin_key = flask_cli(service_env, "keys", "create", "--role", "admin", "--name", "e2e").strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes = []
    try:
        processes.append(start_web(service_env, port))
        processes.append(start_worker(service_env))
        wait_until_healthy(base, processes)
        yield {"base": base, "admin_key": admin_key}
    finally:
        stop(processes)


def test_a_merchant_onboarded_through_the_api_enrols_a_member_from_a_signed_till(service):
    base, admin = service["base"], service["admin_key"]

    status, application = call(
        base,
        "POST",
        "/api/v1/merchants/applications",
        body={"name": "Corner Bakery", "contact_email": "a@bakery.example"},
    )
    assert status == 202 and application["status"] == "pending"
    status, approval = call(base, "POST", f"/api/v1/merchants/applications/{application['id']}/approve", key=admin)
    assert status == 201
    merchant_key = approval["api_key"]
    status, store = call(
        base,
        "POST",
        f"/api/v1/merchants/{approval['merchant_id']}/stores",
        key=merchant_key,
        body={"name": "Main St", "timezone": "Asia/Hong_Kong"},
    )
    assert status == 201
    status, terminal = call(
        base, "POST", f"/api/v1/stores/{store['id']}/terminals", key=merchant_key, body={"name": "Till 1"}
    )
    assert status == 201

    enrolment = {"email": "mei@example.com", "name": "Mei", "locale": "zh_Hant"}
    # Unsigned, the till is refused; signed, it enrols.
    status, refused = call(base, "POST", "/api/v1/members", key=terminal["api_key"], body=enrolment)
    assert status == 401 and refused["reason"] == "bad_signature"
    status, member = call(
        base,
        "POST",
        "/api/v1/members",
        key=terminal["api_key"],
        body=enrolment,
        signing_secret=terminal["signing_secret"],
    )
    assert status == 201, member
    assert len(member["card_number"]) == 16

    status, svg = call(
        base,
        "GET",
        f"/api/v1/members/{member['id']}/card.svg",
        key=terminal["api_key"],
        signing_secret=terminal["signing_secret"],
    )
    assert status == 200 and b"<svg" in svg

    # The worker process delivers the welcome notification.
    deadline = time.monotonic() + 30
    while True:
        status, page = call(base, "GET", f"/api/v1/notifications?member_id={member['id']}", key=admin)
        assert status == 200
        if page["items"] and page["items"][0]["status"] == "sent":
            break
        assert time.monotonic() < deadline, f"welcome notification not delivered: {page}"
        time.sleep(0.5)
    assert page["items"][0]["template"] == "welcome"


def test_another_merchants_key_sees_nothing_of_this_one(service):
    base, admin = service["base"], service["admin_key"]
    keys = []
    merchants = []
    for name in ("Alpha Books", "Beta Shoes"):
        _, application = call(
            base, "POST", "/api/v1/merchants/applications", body={"name": name, "contact_email": "x@example.com"}
        )
        _, approval = call(base, "POST", f"/api/v1/merchants/applications/{application['id']}/approve", key=admin)
        keys.append(approval["api_key"])
        merchants.append(approval["merchant_id"])
    status, store = call(
        base, "POST", f"/api/v1/merchants/{merchants[0]}/stores", key=keys[0], body={"name": "S", "timezone": "UTC"}
    )
    assert status == 201
    for path in (f"/api/v1/merchants/{merchants[0]}", f"/api/v1/stores/{store['id']}"):
        status, body = call(base, "GET", path, key=keys[1])
        assert status == 404 and body["reason"] == "not_found"


def test_no_key_is_401_and_health_is_ok(service):
    status, body = call(service["base"], "GET", "/api/v1/program")
    assert status == 401 and body["reason"] == "unauthenticated"
    status, body = call(service["base"], "GET", "/healthz")
    assert status == 200 and body == {"status": "ok", "database": "ok", "redis": "ok"}
