"""Admins deciding one application at the same time, on real, separate database connections."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.errors import InvalidState
from loyalty.keys.models import ApiKey
from loyalty.merchants.models import Merchant, MerchantApplication
from loyalty.merchants.services import approve_application, reject_application, submit_application

RACERS = 6


@pytest.fixture()
def application_id(engine, redis_conn):
    """A committed pending application; it and everything made from it are removed afterwards."""
    with Session(engine, expire_on_commit=False) as session:
        application = submit_application(
            session, name="Race Bakery", contact_email="race@bakery.example", website=None, category=None
        )
        session.commit()
    yield application.id
    with Session(engine) as session, session.begin():
        merchant_ids = list(session.scalars(select(Merchant.id).where(Merchant.name == "Race Bakery")))
        key_ids = list(session.scalars(select(ApiKey.id).where(ApiKey.merchant_id.in_(merchant_ids))))
        session.execute(
            delete(AuditEvent).where(
                or_(
                    AuditEvent.object_id.in_([application.id, *merchant_ids, *key_ids]),
                    AuditEvent.merchant_id.in_(merchant_ids),
                )
            )
        )
        session.execute(delete(ApiKey).where(ApiKey.id.in_(key_ids)))
        session.execute(delete(MerchantApplication).where(MerchantApplication.id == application.id))
        session.execute(delete(Merchant).where(Merchant.id.in_(merchant_ids)))


def test_concurrent_decisions_on_one_application_let_exactly_one_win(engine, application_id):
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def decide(n: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                if n % 2:
                    reject_application(session, application_id=application_id, note=None, actor=cli_actor())
                    result = "rejected"
                else:
                    merchant, _secret = approve_application(session, application_id=application_id, actor=cli_actor())
                    result = merchant.id
                session.commit()
            except InvalidState:
                session.rollback()
                result = "invalid_state"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == RACERS
    winners = [o for o in outcomes if o != "invalid_state"]
    assert len(winners) == 1
    with Session(engine) as session:
        application = session.get(MerchantApplication, application_id)
        merchants = session.scalars(select(Merchant).where(Merchant.name == "Race Bakery")).all()
        keys = session.scalars(select(ApiKey).where(ApiKey.merchant_id.in_([m.id for m in merchants]))).all()
    if winners[0] == "rejected":
        assert application.status == "rejected" and merchants == [] and application.merchant_id is None
    else:
        assert application.status == "approved" and [m.id for m in merchants] == winners
        assert application.merchant_id == winners[0] and len(keys) == 1
