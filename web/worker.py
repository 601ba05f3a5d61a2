"""RQ workers whose jobs run inside an application context with a fresh session."""

from __future__ import annotations

import logging

from flask import Flask
from rq import SimpleWorker, Worker

from loyalty.outbox.jobs import sweep
from web.requestlog import job_logging

log = logging.getLogger(__name__)

# How often a worker does RQ's upkeep (RQ's default is 10 minutes): it retries the jobs of a
# worker that died mid-job (killed, its machine lost) once their heartbeat lapses, and takes
# over the scheduler of scheduled retries from such a worker. Cheap, and done by one worker at a time.
MAINTENANCE_SECONDS = 60


class AppContextMixin:
    def __init__(self, *args, app: Flask, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self.app = app

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        # The outbox sweep, on every worker's upkeep too and not only on the cron schedule:
        # whatever became of the cron process while Redis was away, the outbox is handed to
        # Redis within a minute of its return. Re-sending is safe: a message runs once.
        with self.app.app_context():
            try:
                sent = sweep()
            except Exception:
                log.exception("outbox sweep during upkeep failed")
            else:
                if sent:
                    log.info("outbox: re-sent %d message(s) during upkeep", sent)

    def perform_job(self, job, *args, **kwargs):
        # Every line the job logs names it: the job id is the outbox message's for outbox work.
        with self.app.app_context(), job_logging(job.id):
            return super().perform_job(job, *args, **kwargs)


class LoyaltyWorker(AppContextMixin, Worker):
    """Forks a work horse per job, so a crashing job cannot take the worker down."""


class LoyaltySimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process (tests, and platforms without fork)."""
