"""``flask --app wsgi tiers review``: run the tier review now, as the daily schedule does."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from loyalty.tiers.jobs import review_tiers
from loyalty.tiers.review import BATCH_SIZE

tiers_cli = AppGroup("tiers", help="Member tiers.")


@tiers_cli.command("review")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=BATCH_SIZE, show_default=True)
def review_command(batch_size: int) -> None:
    """Review every active member's tier now and print the counts."""
    counts = review_tiers(batch_size=batch_size)
    click.echo(
        f"Reviewed {counts['reviewed']} active members: {counts['raised']} raised, {counts['warned']} warned, "
        f"{counts['lowered']} lowered, {counts['cleared']} no longer at risk."
    )
