"""The recurring jobs, for ``rq cron`` (``flask --app wsgi worker`` runs them).

``rq cron loyalty.schedules`` also works, in a process where the app has been
created (jobs open a unit of work).
"""

from __future__ import annotations

from rq import cron

from loyalty.ledger.jobs import expire_points, warn_expiring_points
from loyalty.outbox.jobs import sweep

# (function, queue, seconds between runs)
SCHEDULE = [
    (sweep, "default", 30),
]

# (function, queue, cron expression in UTC, seconds the job may run): daily work in batches.
DAILY = [
    (expire_points, "default", "30 2 * * *", 6 * 3600),
    # After the expiry run, so a warning never counts points that have just expired.
    (warn_expiring_points, "default", "30 3 * * *", 6 * 3600),
]


def register_all(scheduler) -> None:
    for func, queue, interval in SCHEDULE:
        scheduler.register(func, queue, interval=interval)
    for func, queue, expression, timeout in DAILY:
        scheduler.register(func, queue, cron=expression, job_timeout=timeout)


for _func, _queue, _interval in SCHEDULE:
    cron.register(_func, _queue, interval=_interval)
for _func, _queue, _expression, _timeout in DAILY:
    cron.register(_func, _queue, cron=_expression, job_timeout=_timeout)
