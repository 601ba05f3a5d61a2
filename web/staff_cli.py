"""``flask --app wsgi users create|list``: staff accounts of the console, from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from loyalty.actors import cli_actor
from loyalty.db import unit_of_work
from loyalty.errors import LoyaltyError
from loyalty.staff import services as staff
from loyalty.staff.services import STAFF_ROLES

users_cli = AppGroup("users", help="Staff accounts of the console.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
@click.option("--merchant", "merchant_id", default=None, help="The merchant id, for a merchant's staff.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="LOYALTY_STAFF_PASSWORD",
    help="Asked for when not given (or from LOYALTY_STAFF_PASSWORD).",
)
def create_user_command(email: str, name: str, role: str, merchant_id: str | None, password: str) -> None:
    """Create a staff account that signs in to /console with this email and password."""
    try:
        with unit_of_work() as session:
            user = staff.create_staff_user(
                session,
                email=email,
                name=name,
                role=role,
                merchant_id=merchant_id,
                password=password,
                actor=cli_actor(),
            )
    except LoyaltyError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {role} {user.id} ({user.email}); sign in at /console/login.")


@users_cli.command("list")
def list_users_command() -> None:
    """List staff accounts (never their passwords)."""
    with unit_of_work() as session:
        cursor = None
        click.echo(f"{'id':32} {'role':9} {'status':9} email")
        while True:
            page = staff.list_staff_users(session, limit=500, cursor=cursor, actor=cli_actor())
            for user in page.items:
                click.echo(f"{user.id:32} {user.role:9} {user.status:9} {user.email}")
            if not (cursor := page.next_cursor):
                break
