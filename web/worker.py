"""RQ workers whose jobs run inside an application context with a fresh session."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker

from web.requestlog import job_logging


class AppContextMixin:
    def __init__(self, *args, app: Flask, **kwargs):
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
