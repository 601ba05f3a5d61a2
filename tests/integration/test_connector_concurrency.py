"""Vendor deliveries racing each other on real, separate database connections.

A vendor may deliver the same event twice at once (a retry while the first
is still in flight), and several events about one order arrive together
(orders/create and orders/paid). On PostgreSQL these are true races between
transactions; on SQLite writers queue on the database lock and must still count exactly.
"""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.actors import cli_actor
from loyalty.connectors import deliveries
from loyalty.connectors import services as connectors
from loyalty.connectors.models import ConnectorEvent
from loyalty.earning.services import activate_rule, create_rule
from loyalty.ledger.models import LedgerEntry
from loyalty.outbox import services as outbox
from loyalty.program.services import update_program
from loyalty.purchases.models import Purchase
from pos_plugins.common.jobs import process_connector_event, record_delivery
from tests.concurrency import race
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.ledger_checks import assert_ledger_consistent
from tests.pos.connectors import sample_bytes

ORDER = sample_bytes("shopify", "orders_paid.json").decode()


def setup(committed):
    with committed() as session:
        update_program(session, changes={"currency": "USD", "pending_days": 0}, actor=cli_actor())
        rule = create_rule(
            session,
            rule={"name": "One point per dollar", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
            actor=cli_actor(),
        )
        activate_rule(session, rule_id=rule.id, actor=cli_actor())
        merchant = make_merchant(session)
        store = make_store(session, merchant.id)
        connector, _ = connectors.create_connector(
            session,
            merchant_id=merchant.id,
            vendor="shopify",
            name="Shop",
            signing_secret="shpss_concurrency_secret",
            default_store_id=store.id,
            actor=cli_actor(),
        )
        member = make_member(session, email="bob.norman@mail.example.com")
        session.commit()
        return connector.id, member.id


def receive(committed, connector_id: str, event_id: str) -> tuple[str, bool]:
    with committed() as session:
        connector = deliveries.webhook_connector(session, connector_id, "shopify")
        event, created = deliveries.receive_event(
            session, connector=connector, vendor_event_id=event_id, topic="orders/paid", payload=ORDER
        )
        if created:
            outbox.add_task(session, process_connector_event, event_id=event.id)
        session.commit()
        return event.id, created


def test_the_same_delivery_arriving_ten_times_at_once_is_stored_once(committed):
    connector_id, _member_id = setup(committed)
    results = race(10, lambda _i: receive(committed, connector_id, "evt-same"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(created for _id, created in results) == 1
    assert len({event_id for event_id, _created in results}) == 1
    with committed() as session:
        assert session.scalar(select(func.count()).select_from(ConnectorEvent)) == 1


def test_jobs_of_different_events_about_one_order_racing_award_once(committed):
    connector_id, member_id = setup(committed)
    event_ids = [receive(committed, connector_id, f"evt-{n}")[0] for n in range(8)]

    def work(i: int) -> str:
        with committed() as session:
            event = record_delivery(session, event_ids[i])
            session.commit()
            return event.status

    results = race(8, work)
    assert results == ["recorded"] * 8, results
    with committed() as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 1
        assert session.scalar(select(func.sum(LedgerEntry.points))) == 598
        replays = session.scalar(
            select(func.count()).select_from(ConnectorEvent).where(ConnectorEvent.reason == "replayed")
        )
        assert replays == 7
        assert_ledger_consistent(session, member_id)
