"""The embedded Redis server lives as long as a process uses it, and no longer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A process that uses the embedded server, points at another Redis for a while
# (as the health and outbox tests do), comes back, and exits.
PROGRAM = textwrap.dedent(
    """
    import sys

    from loyalty import queue

    path = sys.argv[1]
    queue.configure(url=None, embedded_path=path)
    queue.get_redis().ping()
    held = queue.get_queue()  # something still holding the first client
    queue.configure(url="redis://127.0.0.1:1/0", embedded_path=None)
    queue.configure(url=None, embedded_path=path)
    queue.get_redis().ping()
    print(queue._embedded[path].pid, flush=True)
    """
)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for all purposes (its parent is init, which reaps it).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_the_embedded_server_stops_with_its_last_process_even_after_a_reconfiguration(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path / "redis.db")],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    server = int(result.stdout.split()[-1])
    try:
        deadline = time.monotonic() + 10
        while _running(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(server), "the embedded Redis server outlived the last process using it"
    finally:
        if _running(server):
            os.kill(server, signal.SIGKILL)
