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
# The member portal's demo login: Ana, who has points, a tier and rewards within reach.
PORTAL_EMAIL = "ana@example.com"
PORTAL_PASSWORD = "harbour-demo-2026"  # noqa: S105  (printed by the demo on purpose)
DEMO_TIERS = [
    {"code": "blue", "name": "Blue", "rank": 0, "qualifying_points": 0, "benefits": {}},
    {"code": "silver", "name": "Silver", "rank": 10, "qualifying_points": 100, "benefits": {"bonus_percent": 10}},
    {"code": "gold", "name": "Gold", "rank": 20, "qualifying_points": 500, "benefits": {"bonus_percent": 25}},
]
DEMO_REWARDS = [
    {"name": "Free espresso", "description": "Any espresso at Harbour Coffee.", "points_cost": 10},
    {"name": "Pastry of your choice", "description": "From the counter, any day.", "points_cost": 15},
    {"name": "Bag of house beans", "description": "250 g, whole or ground.", "points_cost": 250, "stock": 40},
]


@click.command("demo")
def demo_command() -> None:
    """Create demo data once: the program, an admin key, console logins, a merchant, a store, a terminal, members."""
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
            portal_ready = _demo_portal_login(session, actor=actor)
            click.echo("Demo data is already there. For a new admin key run:")
            click.echo("  flask --app wsgi keys create --role admin --name you")
            click.echo("and for a console login:")
            click.echo("  flask --app wsgi users create --role admin --email you@example.com --name You")
            if portal_ready:
                _echo_portal_login()
            return
        update_program(
            session,
            changes={"name": "Harbour City Rewards", "currency": "EUR", "timezone": "Europe/Lisbon"},
            actor=actor,
        )
        _demo_tiers_and_rewards(session, actor=actor)
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
        rules = _demo_rules(session, merchant_id=merchant.id, actor=actor)
        receipts = _demo_purchases(session, store_id=store.id, member=members[0], actor=actor)
        staff_logins = _demo_staff(session, merchant_id=merchant.id, actor=actor)
        _demo_portal_login(session, actor=actor)
        shoppers, visits = _demo_history(session, store_id=store.id, actor=actor)
    stages = _demo_analytics()
    click.echo("Demo program created.")
    click.echo(f"  {shoppers} more members with {visits} purchases over the last 15 months; their stages: {stages}")
    click.echo(f"  merchant {merchant.id}  store {store.id}  terminal {terminal.id}")
    click.echo(f"  merchant key:          {merchant_secret}")
    click.echo(f"  terminal key:          {terminal_key}")
    click.echo(f"  terminal signing secret: {signing_secret}")
    for member in members:
        click.echo(f"  member {member.id}  card {member.card_number}  {member.email or member.phone}")
    for rule in rules:
        click.echo(f"  rule {rule.id}  active")
    for receipt in receipts:
        extra = f"claim code {receipt['claim_code']}" if receipt.get("claim_code") else f"member {receipt['member_id']}"
        click.echo(f"  purchase {receipt['external_id']}: {receipt['points_awarded']} points, {extra}")
    click.echo("Staff console at /console/login (passwords shown once):")
    for role, email, password in staff_logins:
        click.echo(f"  {role:9} {email}  password {password}")
    _echo_portal_login()
    click.echo("Admin key (shown once; keep it):")
    click.echo(admin_secret)


DEMO_RULES = [
    {"name": "One point per euro", "priority": 0, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
    {
        "name": "Weekend coffee double",
        "priority": 100,
        "condition": '"coffee" in purchase.categories and purchase.local_weekday in ["sat", "sun"]',
        "effect": {"type": "multiplier", "percent": 200},
        "limits": {"per_member": {"times": 1, "period": "day"}},
    },
    {
        "name": "Pastry lovers",
        "priority": 50,
        "condition": '"pastry" in purchase.categories',
        "effect": {"type": "per_item", "points": 5, "category": "pastry"},
        "merchant": True,
    },
]


DEMO_STAFF = [
    ("admin", "admin@harbour-rewards.example", "Operator admin", None),
    ("marketer", "marketing@harbour-rewards.example", "Marketing", None),
    ("merchant", "staff@harbour-coffee.example", "Harbour Coffee staff", True),
]


def _demo_staff(session, *, merchant_id: str, actor) -> list[tuple[str, str, str]]:
    """Console logins: an admin, a marketer, and the demo merchant's staff, each with a new random password."""
    import secrets

    from loyalty.staff.services import create_staff_user

    logins = []
    for role, email, name, bound in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        create_staff_user(
            session,
            email=email,
            name=name,
            role=role,
            merchant_id=merchant_id if bound else None,
            password=password,
            actor=actor,
        )
        logins.append((role, email, password))
    return logins


def _echo_portal_login() -> None:
    click.echo(f"Member portal: /portal/ (log in as {PORTAL_EMAIL}, password {PORTAL_PASSWORD})")


def _demo_tiers_and_rewards(session, *, actor) -> None:
    from loyalty.rewards.services import create_reward
    from loyalty.tiers.services import replace_tiers

    replace_tiers(session, tiers=DEMO_TIERS, actor=actor)
    for reward in DEMO_REWARDS:
        create_reward(session, reward=reward, actor=actor)


def _demo_portal_login(session, *, actor) -> bool:
    """Give the demo member Ana a portal password, unless she has one; False when she is gone."""
    from loyalty.accounts.models import MemberLogin
    from loyalty.logins.services import hash_password
    from loyalty.members.services import lookup_members

    ana = lookup_members(session, email=PORTAL_EMAIL)
    if ana is None:
        return False
    if session.get(MemberLogin, ana.id) is None:
        session.add(MemberLogin(member_id=ana.id, password_hash=hash_password(PORTAL_PASSWORD), session_version=1))
        session.flush()
    return True


def _demo_rules(session, *, merchant_id: str, actor) -> list:
    from loyalty.earning.services import activate_rule, create_rule

    made = []
    for spec in DEMO_RULES:
        body = {k: v for k, v in spec.items() if k != "merchant"}
        if spec.get("merchant"):
            body["merchant_id"] = merchant_id
        rule = create_rule(session, rule=body, actor=actor)
        made.append(activate_rule(session, rule_id=rule.id, actor=actor))
    return made


def _demo_purchases(session, *, store_id: str, member, actor) -> list[dict]:
    """Two purchases by a member (one old enough for its points to be available) and one without a card."""
    from datetime import timedelta

    from loyalty.db import utcnow
    from loyalty.purchases.services import record_purchase

    baskets = [
        ("DEMO-0001", member, [("LATTE", "coffee", 2, 450), ("CROISSANT", "pastry", 1, 320)]),
        ("DEMO-0002", member, [("BEANS-1KG", "coffee", 1, 2400)]),
        ("DEMO-0003", None, [("ESPRESSO", "coffee", 1, 150), ("PASTEL", "pastry", 2, 130)]),
    ]
    receipts = []
    for days_ago, (external_id, shopper, lines) in zip((30, 2, 1), baskets, strict=True):
        items = [{"sku": s, "category": c, "quantity": q, "unit_price_minor": p} for s, c, q, p in lines]
        outcome = record_purchase(
            session,
            store_id=store_id,
            terminal_id=None,
            external_id=external_id,
            member_ref={"member_id": shopper.id} if shopper else None,
            occurred_at=utcnow() - timedelta(days=days_ago),
            currency="EUR",
            total_minor=sum(item["quantity"] * item["unit_price_minor"] for item in items),
            items=items,
            fingerprint=external_id,
            actor=actor,
        )
        receipts.append(outcome.receipt)
    return receipts


DEMO_HISTORY_MEMBERS = 100


def _demo_history(session, *, store_id: str, actor) -> tuple[int, int]:
    """Members with 15 months of purchases in a few rhythms, for the console's analytics and campaigns.

    Regulars every week or two, monthly shoppers, some who stopped months ago, one-time
    buyers and prospects; the same every time (a seeded generator). Purchases go through
    the purchase service like any till's, enrolment dates are moved back to match.
    """
    import random
    from datetime import timedelta

    from loyalty.db import utcnow
    from loyalty.members.services import enrol_member
    from loyalty.purchases.services import record_purchase

    rng = random.Random(2026)  # noqa: S311 - demo data, the same on every machine
    now = utcnow()
    catalog = [("LATTE", "coffee", 450), ("BEANS-1KG", "coffee", 2400), ("CROISSANT", "pastry", 320)]
    # (days between visits, days since they stopped), and the share of the members with each rhythm
    rhythms = [(14, 0), (30, 0), (21, 150), (None, 0), (None, None)]
    shares = [0.3, 0.2, 0.2, 0.15, 0.15]
    visits = 0
    for n in range(DEMO_HISTORY_MEMBERS):
        gap, stopped = rng.choices(rhythms, weights=shares)[0]
        member = enrol_member(
            session, email=f"shopper{n:03d}@example.com", phone=None, name=f"Shopper {n:03d}", actor=actor
        )
        enrolled_days = rng.randint(200, 450)
        member.enrolled_at = now - timedelta(days=enrolled_days)
        if stopped is None:
            continue  # a prospect: enrolled, never bought
        days = [rng.randint(20, enrolled_days)] if gap is None else []
        day = enrolled_days - rng.randint(1, 20)
        while gap is not None and day > stopped:
            days.append(day)
            day -= max(1, round(rng.gauss(gap, gap / 4)))
        for days_ago in days:
            sku, category, price = rng.choice(catalog)
            quantity = rng.randint(1, 3)
            record_purchase(
                session,
                store_id=store_id,
                terminal_id=None,
                external_id=f"DEMO-H-{n:03d}-{days_ago}",
                member_ref={"member_id": member.id},
                occurred_at=now - timedelta(days=days_ago, hours=rng.randint(0, 10)),
                currency="EUR",
                total_minor=quantity * price,
                items=[{"sku": sku, "category": category, "quantity": quantity, "unit_price_minor": price}],
                fingerprint=f"DEMO-H-{n:03d}-{days_ago}",
                actor=actor,
            )
            visits += 1
    return DEMO_HISTORY_MEMBERS, visits


def _demo_analytics() -> str:
    """One analytics run over the demo's members; their stages, as a short line."""
    from loyalty.analytics.jobs import execute_run, record_run

    with unit_of_work() as session:
        run = record_run(session)
        session.commit()
        execute_run(session, run)
        stages = run.stats.get("stages", {})
    return ", ".join(f"{name} {count}" for name, count in stages.items() if count) or "none"
