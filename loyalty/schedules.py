"""The recurring jobs, for ``rq cron`` (``flask --app wsgi worker`` runs them).

``rq cron loyalty.schedules`` also works, in a process where the app has been
created (jobs open a unit of work).
"""

from __future__ import annotations

from rq import cron

from loyalty.analytics.jobs import schedule_nightly_run
from loyalty.campaigns.jobs import run_campaign_schedule
from loyalty.ledger.jobs import expire_points, warn_expiring_points
from loyalty.outbox.jobs import sweep
from loyalty.settlement.jobs import close_statements
from loyalty.tiers.jobs import review_tiers
from loyalty.webhooks.jobs import requeue_stalled

# (function, queue, seconds between runs or a cron expression in the local time of the
# worker that runs the schedules, UTC on a server kept in UTC)
SCHEDULE = [
    (sweep, "default", 30),
    (requeue_stalled, "webhooks", 60),
    (expire_points, "default", "30 2 * * *"),
    (review_tiers, "default", "15 3 * * *"),
    # After the expiry run, so a warning never counts points that have just expired.
    (warn_expiring_points, "default", "30 3 * * *"),
    # Daily: the day after a month ends its statements are closed; a missed day is made up the next.
    (close_statements, "default", "0 4 * * *"),
    # Nightly member analytics (stages, RFM, value): records a run and queues it through the outbox.
    (schedule_nightly_run, "default", "45 4 * * *"),
    # Scheduled campaigns start (and running ones end) within a minute of their time.
    (run_campaign_schedule, "default", 60),
]

# A job may run this long before RQ stops it (the daily jobs walk every member, in batches).
TIMEOUTS = {
    expire_points: 6 * 3600,
    warn_expiring_points: 6 * 3600,
    review_tiers: 6 * 3600,
    close_statements: 6 * 3600,
    schedule_nightly_run: 300,
}


def _when(every: int | str) -> dict:
    return {"cron": every} if isinstance(every, str) else {"interval": every}


def register_all(scheduler) -> None:
    for func, queue, every in SCHEDULE:
        scheduler.register(func, queue, job_timeout=TIMEOUTS.get(func), **_when(every))


for _func, _queue, _every in SCHEDULE:
    cron.register(_func, _queue, job_timeout=TIMEOUTS.get(_func), **_when(_every))
