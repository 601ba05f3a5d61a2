"""``flask --app wsgi demo``: a demo program to try the service with."""

from __future__ import annotations

import click
from sqlalchemy import select

from loyalty.actors import Role, cli_actor
from loyalty.db import unit_of_work
from loyalty.keys.services import create_key
from loyalty.merchants.models import Merchant
from loyalty.program.services import update_program

DEMO_MERCHANT = "Harbour Coffee (demo)"


@click.command("demo")
def demo_command() -> None:
    """Create demo data once: the program, an admin key, a merchant, a store, a terminal, members."""
    from loyalty.members.services import enrol_member
    from loyalty.merchants.services import (
        add_store,
        add_terminal,
        approve_application,
        submit_application,
    )

    actor = cli_actor("demo")
    with unit_of_work() as session:
        if session.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT)):
            click.echo("Demo data is already there. For a new admin key run:")
            click.echo("  flask --app wsgi keys create --role admin --name you")
            return
        update_program(
            session,
            changes={"name": "Harbour City Rewards", "currency": "EUR", "timezone": "Europe/Lisbon"},
            actor=actor,
        )
        _admin, admin_secret = create_key(session, role=Role.ADMIN, name="demo admin", actor=actor)
        application = submit_application(
            session, name=DEMO_MERCHANT, contact_email="owner@harbour-coffee.example", website=None, category="coffee"
        )
        merchant, merchant_secret = approve_application(session, application_id=application.id, actor=actor)
        store = add_store(
            session, merchant_id=merchant.id, name="Harbour Coffee, Quay St", timezone="Europe/Lisbon", actor=actor
        )
        terminal, terminal_key, signing_secret = add_terminal(session, store_id=store.id, name="Till 1", actor=actor)
        members = [
            enrol_member(
                session,
                email="ana@example.com",
                phone="+351912345678",
                name="Ana Costa",
                locale="en",
                marketing_opt_in=True,
                actor=actor,
            ),
            enrol_member(
                session,
                email="wei@example.com",
                phone=None,
                name="Chen Wei",
                locale="zh_Hant",
                marketing_opt_in=False,
                actor=actor,
            ),
            enrol_member(
                session,
                email=None,
                phone="+447911123456",
                name="Sam Jones",
                locale="en",
                marketing_opt_in=False,
                actor=actor,
            ),
        ]
    click.echo("Demo program created.")
    click.echo(f"  merchant {merchant.id}  store {store.id}  terminal {terminal.id}")
    click.echo(f"  merchant key:          {merchant_secret}")
    click.echo(f"  terminal key:          {terminal_key}")
    click.echo(f"  terminal signing secret: {signing_secret}")
    for member in members:
        click.echo(f"  member {member.id}  card {member.card_number}  {member.email or member.phone}")
    click.echo("Admin key (shown once; keep it):")
    click.echo(admin_secret)
