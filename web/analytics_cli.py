"""``flask --app wsgi analytics run``: the nightly member analytics, now, with a progress bar."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from loyalty.analytics.jobs import execute_run, record_failure, record_run
from loyalty.db import unit_of_work

analytics_cli = AppGroup("analytics", help="Member analytics: lifecycle stages, RFM segments, predicted value.")


@analytics_cli.command("run")
def run_command() -> None:
    """Compute every member's stage, RFM segment and predicted value now, as the nightly run does."""
    with unit_of_work() as session:
        run = record_run(session)
        session.commit()
        with click.progressbar(length=100, label="Analytics", file=sys.stderr, show_percent=True) as bar:
            done = 0

            def report(percent: int, _label: str) -> None:
                nonlocal done
                if percent > done:
                    bar.update(percent - done)
                    done = percent

            try:
                execute_run(session, run, report=report)
            except Exception as exc:
                record_failure(session, run.id, exc)
                raise click.ClickException(f"The run {run.id} stopped on an error: {exc}") from exc
        stats = run.stats
    model = stats["value_model"]
    click.echo(
        f"Run {run.id}: {run.members} members, {stats['purchases']} purchases, {stats['buyers']} buyers, "
        f"{stats['stage_changes']} stage changes in {stats['timings']['total']:.1f} s."
    )
    click.echo("Stages: " + ", ".join(f"{name} {count}" for name, count in stats["stages"].items()))
    if model["bgnbd"]:
        click.echo("BG/NBD: " + ", ".join(f"{k}={v:.4g}" for k, v in model["bgnbd"].items()))
    if model["gamma_gamma"]:
        click.echo("Gamma-Gamma: " + ", ".join(f"{k}={v:.4g}" for k, v in model["gamma_gamma"].items()))
    if model["reason"]:
        click.echo(f"Value model: {model['reason']}.")
