"""RQ workers whose jobs run inside an application context with a fresh session."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker

from web.requestlog import job_logging

# How often a worker does RQ's upkeep (RQ's default is 10 minutes): it retries the jobs of a
# worker that died mid-job (killed, its machine lost) once their heartbeat lapses, and takes
# over the scheduler of scheduled retries from such a worker. Cheap, and done by one worker at a time.
MAINTENANCE_SECONDS = 60


class AppContextMixin:
    def __init__(self, *args, app: Flask, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self.app = app

    def perform_job(self, job, *args, **kwargs):
        # Every line the job logs names it: the job id is the outbox message's for outbox work.
        with self.app.app_context(), job_logging(job.id):
            return super().perform_job(job, *args, **kwargs)


class LoyaltyWorker(AppContextMixin, Worker):
    """Forks a work horse per job, so a crashing job cannot take the worker down."""


class LoyaltySimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process (tests, and platforms without fork)."""
