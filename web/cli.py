"""Command-line entry points: ``flask --app wsgi keys|ledger|tiers|purchases|users|worker|demo``."""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup
from redis.exceptions import RedisError

from loyalty.actors import Role, cli_actor
from loyalty.db import unit_of_work
from loyalty.errors import LoyaltyError
from loyalty.keys import services as keys

log = logging.getLogger(__name__)

keys_cli = AppGroup("keys", help="Create, list and revoke API keys.")


@keys_cli.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role if r is not Role.TERMINAL]), required=True)
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option("--merchant", "merchant_id", default=None, help="The merchant id, for a merchant key.")
def create_key_command(role: str, name: str, merchant_id: str | None) -> None:
    """Create a key and print its secret alone on the last line."""
    try:
        with unit_of_work() as session:
            if merchant_id:
                from loyalty.merchants.services import get_merchant

                get_merchant(session, merchant_id, actor=cli_actor())
            key, secret = keys.create_key(
                session, role=Role(role), name=name, merchant_id=merchant_id, actor=cli_actor()
            )
    except LoyaltyError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {role} key {key.id} ({name}). The secret is shown once, now:")
    click.echo(secret)


@keys_cli.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
def list_keys_command(include_revoked: bool) -> None:
    """List keys (never their secrets)."""
    with unit_of_work() as session:
        cursor = None
        click.echo(f"{'id':32} {'role':9} {'name':24} {'last used':25} revoked")
        while True:
            page = keys.list_keys(session, limit=500, cursor=cursor, include_revoked=include_revoked)
            for key in page.items:
                click.echo(
                    f"{key.id:32} {key.role:9} {key.name[:24]:24} "
                    f"{key.last_used_at.isoformat() if key.last_used_at else '-':25} "
                    f"{key.revoked_at.isoformat() if key.revoked_at else '-'}"
                )
            if not page.next_cursor:
                break
            cursor = page.next_cursor


@keys_cli.command("revoke")
@click.argument("key_id")
def revoke_key_command(key_id: str) -> None:
    """Revoke a key at once."""
    try:
        with unit_of_work() as session:
            keys.revoke_key(session, key_id=key_id, actor=cli_actor())
    except LoyaltyError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Revoked {key_id}.")


ledger_cli = AppGroup("ledger", help="Run the ledger's scheduled work now.")


@ledger_cli.command("expire")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1), help="Members per batch.")
def expire_command(batch_size: int) -> None:
    """Expire every lot past its expiry date now, printing a line per batch and the totals."""
    from loyalty.ledger.jobs import run_expiry

    def progress(number, batch) -> None:
        click.echo(f"batch {number}: {batch.points} points of {batch.lots} lots expired for {batch.members} members")

    with unit_of_work() as session:
        run = run_expiry(session, batch_size=batch_size, on_batch=progress)
    click.echo(f"Expired {run.points} points of {run.lots} lots for {run.members} members in {run.batches} batches.")


@ledger_cli.command("warn")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1), help="Members per batch.")
def warn_command(batch_size: int) -> None:
    """Queue the warnings of points expiring in the next 30 days now, each expiry date once per member."""
    from loyalty.ledger.jobs import run_warnings

    def progress(number, batch) -> None:
        click.echo(f"batch {number}: {batch.members} members warned of {batch.points} points ({batch.dates} dates)")

    with unit_of_work() as session:
        run = run_warnings(session, batch_size=batch_size, on_batch=progress)
    click.echo(
        f"Warned {run.members} members of {run.points} points expiring on {run.dates} dates in {run.batches} batches."
    )


# How long the worker command waits before it starts again after losing Redis.
RECONNECT_SECONDS = 5


def _run_cron(app: Flask) -> None:
    from rq.cron import CronScheduler

    from loyalty.queue import get_redis
    from loyalty.schedules import register_all

    pid = multiprocessing.current_process().pid
    with app.app_context():
        # rq's cron scheduler stops at the first Redis error: without this, a Redis restart
        # would end the schedules (the outbox sweep among them) until the worker is restarted.
        for attempt in itertools.count(1):
            try:
                scheduler = CronScheduler(connection=get_redis(), name=f"loyalty-cron-{pid}-{attempt}")
                register_all(scheduler)
                scheduler.start()
                return
            except RedisError as exc:
                log.warning("cron: Redis unavailable (%s); starting again in %d s", exc, RECONNECT_SECONDS)
                time.sleep(RECONNECT_SECONDS)


def _sweep() -> None:
    from loyalty.outbox.jobs import sweep

    try:
        sent = sweep()
        if sent:
            log.info("outbox: re-sent %d message(s) left from before", sent)
    except Exception:
        log.exception("outbox sweep at start failed")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--cron/--no-cron", default=True, help="Also run the rq cron schedules (one process per deployment).")
@click.option("--queues", default="default,notifications,webhooks", show_default=True)
@click.pass_context
def worker_command(ctx, burst: bool, cron: bool, queues: str) -> None:
    """Run a background worker, and the cron schedules unless --no-cron."""
    from flask import current_app
    from rq.exceptions import StopRequested

    from loyalty.queue import get_redis
    from web.worker import LoyaltyWorker

    app = current_app._get_current_object()
    names = [q.strip() for q in queues.split(",") if q.strip()]
    _sweep()
    cron_process = None
    if cron and not burst:
        cron_process = multiprocessing.get_context("fork").Process(target=_run_cron, args=(app,), daemon=True)
        cron_process.start()
    pid = os.getpid()
    try:
        while True:
            worker = None
            with contextlib.suppress(RedisError):  # Redis unreachable at start, or at the teardown
                worker = LoyaltyWorker(names, connection=get_redis(), app=app)
                worker.work(burst=burst, with_scheduler=not burst, logging_level=app.config["LOG_LEVEL"])
            if os.getpid() != pid:
                # A work horse (a fork of this process) that lost Redis while finishing its job
                # comes back out of rq here instead of exiting: it must not become a worker.
                os._exit(1)
            if burst or (worker is not None and (worker._stop_requested or worker._shutdown_requested_date)):
                break
            # rq quits when Redis goes away in the middle of a job; a worker that stopped on
            # its own starts again once Redis is back, and re-sends the outbox it could not.
            log.error(
                "worker: stopped without being asked (Redis unavailable?); starting again in %d s", RECONNECT_SECONDS
            )
            try:
                time.sleep(RECONNECT_SECONDS)
            except StopRequested:
                break
            _sweep()
    finally:
        if cron_process is not None and cron_process.is_alive():
            cron_process.terminate()
            cron_process.join(5)
    sys.exit(0)


def register(app: Flask) -> None:
    app.cli.add_command(keys_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(worker_command)
    from web.demo import demo_command
    from web.purchases_cli import purchases_cli
    from web.staff_cli import users_cli
    from web.tiers_cli import tiers_cli

    app.cli.add_command(demo_command)
    app.cli.add_command(tiers_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(purchases_cli)
    from web.analytics_cli import analytics_cli

    app.cli.add_command(analytics_cli)
