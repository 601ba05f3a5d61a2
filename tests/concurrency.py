"""Running the same action from many threads at once, each on its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def race(count: int, action: Callable[[int], Any], *, timeout: float = 120) -> list[Any]:
    """Run ``action(i)`` in ``count`` threads released together; results in order, exceptions as values."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on what each thread met
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError("a racing thread did not finish: a deadlock or a lost lock")
    return results
