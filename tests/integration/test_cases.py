"""Service cases on the real database: opened and classified from each source, tracked, resolved once, rejected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.actors import Actor, Role, cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.cases import services as cases
from loyalty.cases.classify import URGENT_POINTS
from loyalty.cases.models import ServiceNote
from loyalty.cases.resolution import reject_case, resolve_case
from loyalty.db import utcnow
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.ledger.models import Adjustment, LedgerEntry
from loyalty.notifications.models import Notification
from loyalty.program.services import update_program
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_tiers import set_tiers
from tests.ledger_checks import assert_ledger_consistent

ADMIN = Actor(kind="staff", name="ops@example.com", role=Role.ADMIN)
MARKETER = Actor(kind="key", name="mkt", role=Role.MARKETER)


def till(store) -> Actor:
    return Actor(kind="key", name="till-1", role=Role.TERMINAL, merchant_id=store.merchant_id, store_id=store.id)


@pytest.fixture()
def store(db_session, redis_conn):
    update_program(db_session, changes={"pending_days": 0}, actor=cli_actor())
    db_session.commit()
    return make_store(db_session, make_merchant(db_session).id)


def ledger(session, member_id):
    session.expire_all()
    query = select(LedgerEntry.kind, LedgerEntry.points).where(LedgerEntry.member_id == member_id)
    return [tuple(row) for row in session.execute(query.order_by(LedgerEntry.id))]


def test_a_cashier_names_a_receipt_of_the_store_and_the_case_is_linked_to_that_purchase(db_session, store):
    member = make_member(db_session)
    sale = buy(db_session, store, total_minor=1200, external_id="R-77").receipt  # sold without the card

    case = cases.open_case(db_session, member_id=member.id, receipt_ref="R-77", points_claimed=12, actor=till(store))

    assert (case.source, case.status, case.priority) == ("cashier", "open", "normal")
    assert (case.purchase_id, case.store_id, case.merchant_id) == (sale["id"], store.id, store.merchant_id)
    assert case.subject == "Missing points: receipt R-77" and case.occurred_on is not None
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "case.open")).all()
    assert (event.object_id, event.merchant_id, event.data["reasons"]) == (case.id, store.merchant_id, [])


def test_a_receipt_the_service_never_received_still_opens_a_case_at_the_tills_store(db_session, store):
    member = make_member(db_session)
    case = cases.open_case(db_session, member_id=member.id, receipt_ref="LOST-1", actor=till(store))
    assert (case.purchase_id, case.store_id, case.receipt_ref) == (None, store.id, "LOST-1")


def test_a_cashier_cannot_name_another_stores_purchase_nor_report_without_a_receipt(db_session, store):
    member = make_member(db_session)
    other_store = make_store(db_session, make_merchant(db_session).id)
    foreign = buy(db_session, other_store).receipt
    with pytest.raises(NotFound):
        cases.open_case(db_session, member_id=member.id, purchase_id=foreign["id"], actor=till(store))
    with pytest.raises(ValidationFailed):
        cases.open_case(db_session, member_id=member.id, actor=till(store))
    with pytest.raises(Forbidden):
        cases.open_case(db_session, member_id=member.id, receipt_ref="R", actor=MARKETER)


def test_another_members_purchase_is_refused(db_session, store):
    owner, other = make_member(db_session), make_member(db_session)
    sale = buy(db_session, store, member=owner).receipt
    with pytest.raises(ValidationFailed):
        cases.open_case(db_session, member_id=other.id, purchase_id=sale["id"], actor=ADMIN)


@pytest.mark.parametrize(
    ("setup", "expected_reasons"),
    [
        ("nothing", []),
        ("many_points", ["points"]),
        ("top_tier", ["top_tier"]),
        ("old_purchase", ["claim_window"]),
        ("repeat", ["repeat"]),
    ],
)
def test_a_case_is_classified_from_the_members_own_facts(db_session, store, setup, expected_reasons):
    member = make_member(db_session)
    claimed = URGENT_POINTS if setup == "many_points" else 50
    occurred = utcnow() - timedelta(days=2)
    if setup == "top_tier":
        set_tiers(db_session)
        buy(db_session, store, member=member, total_minor=600_000)  # 6000 points: gold, the top tier
    if setup == "old_purchase":
        occurred = utcnow() - timedelta(days=28)  # the program's claim window is 30 days
    if setup == "repeat":
        cases.open_case(db_session, member_id=member.id, receipt_ref="FIRST", actor=ADMIN)

    case = cases.open_case(
        db_session, member_id=member.id, receipt_ref="R-1", occurred_on=occurred, points_claimed=claimed, actor=ADMIN
    )

    assert case.priority == ("urgent" if expected_reasons else "normal")
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.open", AuditEvent.object_id == case.id)
    ).one()
    assert event.data["reasons"] == expected_reasons
    notes = db_session.scalars(select(ServiceNote.body).where(ServiceNote.case_id == case.id)).all()
    assert notes == ([] if not expected_reasons else [notes[0]])
    assert not expected_reasons or notes[0].startswith("Classified urgent:")


def test_the_member_reports_only_for_themselves(db_session, store):
    member, other = make_member(db_session), make_member(db_session)
    me = Actor(kind="member", name=member.id)
    case = cases.open_case(db_session, member_id=member.id, receipt_ref="R-9", actor=me)
    assert (case.source, case.opened_by_kind) == ("member", "member")
    with pytest.raises(NotFound):
        cases.open_case(db_session, member_id=other.id, receipt_ref="R-9", actor=me)


def test_the_first_staff_note_takes_an_open_case_in_progress(db_session, store):
    case = cases.open_case(db_session, member_id=make_member(db_session).id, receipt_ref="R", actor=ADMIN)
    cases.add_note(db_session, case_id=case.id, body="Asked the store for the journal.", actor=ADMIN)
    assert case.status == "in_progress"
    with pytest.raises(Forbidden):
        cases.add_note(db_session, case_id=case.id, body="x", actor=MARKETER)


def test_resolving_credits_the_points_once_whatever_the_retries_and_tells_the_member(db_session, store):
    member = make_member(db_session)
    case = cases.open_case(db_session, member_id=member.id, receipt_ref="R-5", points_claimed=40, actor=ADMIN)
    db_session.commit()

    first = resolve_case(db_session, case_id=case.id, points=40, reason="Found in the journal", actor=ADMIN)
    db_session.commit()
    again = resolve_case(db_session, case_id=case.id, points=40, reason="Found in the journal", actor=ADMIN)
    db_session.commit()

    assert (first.replayed, again.replayed) == (False, True)
    assert ledger(db_session, member.id) == [("adjust", 40)]
    adjustment = db_session.scalars(select(Adjustment).where(Adjustment.member_id == member.id)).one()
    assert adjustment.idempotency_key == f"case:{case.id}" and adjustment.id == case.adjustment_id
    assert adjustment.reason == f"Case {case.id}: Found in the journal"
    assert (case.status, case.points_granted, case.resolved_by_name) == ("resolved", 40, "ops@example.com")
    with pytest.raises(InvalidState):
        resolve_case(db_session, case_id=case.id, points=41, reason="Found in the journal", actor=ADMIN)
    with pytest.raises(InvalidState):
        reject_case(db_session, case_id=case.id, reason="No", actor=ADMIN)
    db_session.rollback()
    assert ledger(db_session, member.id) == [("adjust", 40)]
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.object_id.in_([case.id, member.id])))
    assert sorted(actions) == ["case.open", "case.resolve", "member.adjust", "member.enrol"]
    (message,) = db_session.scalars(select(Notification).where(Notification.template == "case_resolved")).all()
    assert (message.member_id, message.data["points"]) == (member.id, 40)
    assert_ledger_consistent(db_session, member.id)


def test_rejecting_credits_nothing_and_tells_the_member_why(db_session, store):
    member = make_member(db_session)
    case = cases.open_case(db_session, member_id=member.id, receipt_ref="R-6", actor=ADMIN)
    reject_case(db_session, case_id=case.id, reason="The receipt was already claimed", actor=ADMIN)
    db_session.commit()
    assert (case.status, case.resolution) == ("rejected", "The receipt was already claimed")
    assert ledger(db_session, member.id) == []
    (message,) = db_session.scalars(select(Notification).where(Notification.template == "case_rejected")).all()
    assert message.data["reason"] == "The receipt was already claimed"
    with pytest.raises(InvalidState):
        resolve_case(db_session, case_id=case.id, points=10, reason="changed my mind", actor=ADMIN)


def test_only_the_operator_resolves(db_session, store):
    case = cases.open_case(db_session, member_id=make_member(db_session).id, receipt_ref="R", actor=till(store))
    for actor in (MARKETER, till(store)):
        with pytest.raises(Forbidden):
            resolve_case(db_session, case_id=case.id, points=10, reason="r", actor=actor)


def test_a_note_on_a_member_outside_any_case_is_the_operators_and_audited(db_session, store):
    member = make_member(db_session)
    note = cases.add_member_note(db_session, member_id=member.id, body="Phoned about the card", actor=ADMIN)
    assert (note.case_id, note.author_name) == (None, "ops@example.com")
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.note")).one()
    assert (event.object_id, event.data) == (member.id, {"note_id": note.id})
    with pytest.raises(Forbidden):
        cases.add_member_note(db_session, member_id=member.id, body="x", actor=MARKETER)
