"""The recurring jobs, for ``rq cron`` (``flask --app wsgi worker`` runs them).

``rq cron loyalty.schedules`` also works, in a process where the app has been
created (jobs open a unit of work).
"""

from __future__ import annotations

from rq import cron

from loyalty.outbox.jobs import sweep

# (function, queue, seconds between runs)
SCHEDULE = [
    (sweep, "default", 30),
]


def register_all(scheduler) -> None:
    for func, queue, interval in SCHEDULE:
        scheduler.register(func, queue, interval=interval)


for _func, _queue, _interval in SCHEDULE:
    cron.register(_func, _queue, interval=_interval)
