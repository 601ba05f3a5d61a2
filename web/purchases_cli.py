"""``flask --app wsgi purchases import FILE.csv --store ID``: a till's end-of-day file, for tills that only export."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from loyalty.actors import cli_actor
from loyalty.db import unit_of_work
from loyalty.errors import LoyaltyError
from loyalty.imports.csvfile import FileError, count_rows
from loyalty.imports.services import ImportReport, import_purchases

purchases_cli = AppGroup("purchases", help="Purchases recorded from files.")

REJECT_COLUMNS = ("first_line", "last_line", "kind", "external_id", "reason", "message")


@purchases_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", "store_id", required=True, help="The store whose sales the file holds.")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the rejected rows, with line numbers and reasons, to this CSV file.",
)
def import_command(path: Path, store_id: str, rejects_path: Path | None) -> None:
    """Record a CSV file of sales and returns (docs/purchases-import.md), each purchase in its own transaction.

    Importing the same file again records nothing twice. Exits with status 1 when rows were rejected.
    """
    with path.open(newline="", encoding="utf-8-sig") as stream:
        total = count_rows(stream)
        stream.seek(0)
        try:
            with (
                unit_of_work() as session,
                click.progressbar(length=total, label=f"Importing {path.name}", show_pos=True, file=sys.stderr) as bar,
            ):
                report = import_purchases(
                    session,
                    stream,
                    store_id=store_id,
                    actor=cli_actor(f"purchases import {path.name}"),
                    on_progress=bar.update,
                )
        except (FileError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{path.name}: {exc}") from None
        except LoyaltyError as exc:
            raise click.ClickException(exc.message) from None
    _print_report(path, report)
    if report.rejected and rejects_path is not None:
        _write_rejects(rejects_path, report)
        click.echo(f"Rejected rows written to {rejects_path}.")
    if report.rejected:
        sys.exit(1)


def _print_report(path: Path, report: ImportReport) -> None:
    click.echo(
        f"{path.name}: {report.rows} rows. Recorded {report.purchases} purchases ({report.points_awarded} points "
        f"awarded) and {report.returns} returns ({report.points_reversed} points taken back); "
        f"{report.already_recorded} already recorded; {len(report.rejected)} rejected ({report.rejected_rows} rows)."
    )
    for rejection in report.rejected:
        click.echo(f"  {rejection.describe()}")


def _write_rejects(rejects_path: Path, report: ImportReport) -> None:
    with rejects_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REJECT_COLUMNS)
        for r in report.rejected:
            writer.writerow((r.first_line, r.last_line, r.kind, r.external_id, r.reason, r.message))
