"""POST /members/{id}/adjustments: points added or taken by an admin, with a reason, audited, once per key."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.ledger.models import Adjustment, LedgerEntry
from loyalty.members.models import Member
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant
from tests.ledger_checks import assert_ledger_consistent


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


def adjust(client, headers, member_id, **body):
    return client.post(f"/api/v1/members/{member_id}/adjustments", json=body, headers=headers)


def entries(session, member_id):
    session.expire_all()
    return session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)).all()


def test_an_admin_adds_points_available_at_once_with_the_reason_in_the_activity_and_the_audit_log(
    client, db_session, admin
):
    member = make_member(db_session)
    response = adjust(client, admin, member.id, points=250, reason=" Missing points, claim 42 ", idempotency_key="k1")

    assert response.status_code == 201, response.json
    body = response.json
    assert body["points"] == 250 and body["reason"] == "Missing points, claim 42"
    assert body["balance"] == {"available": 250, "pending": 0}
    assert body["member_id"] == member.id and body["created_at"].endswith("Z")
    (entry,) = entries(db_session, member.id)
    assert (entry.id, entry.kind, entry.points, entry.balance_after) == (body["entry_id"], "adjust", 250, 250)
    assert entry.note == "Missing points, claim 42" and entry.lot_remaining == 250
    assert entry.expires_at is not None  # as the program's points do: 24 months by default
    assert entry.actor_kind == "key"

    activity = client.get(f"/api/v1/members/{member.id}/activity", headers=admin).json["items"]
    assert [(a["kind"], a["points"], a["note"]) for a in activity] == [("adjust", 250, "Missing points, claim 42")]
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.adjust")).all()
    assert (event.object_type, event.object_id, event.actor_role) == ("member", member.id, "admin")
    assert event.data == {"adjustment_id": body["id"], "entry_id": entry.id, "points": 250, "reason": body["reason"]}
    assert_ledger_consistent(db_session, member.id)


def test_taking_points_is_refused_when_the_available_balance_would_go_below_zero(client, db_session, admin):
    member = make_member(db_session)
    assert adjust(client, admin, member.id, points=100, reason="Goodwill", idempotency_key="add").status_code == 201

    refused = adjust(client, admin, member.id, points=-101, reason="Correction", idempotency_key="take-too-much")
    assert refused.status_code == 422 and refused.json["reason"] == "insufficient_points"
    assert db_session.scalar(select(func.count()).select_from(Adjustment)) == 1

    taken = adjust(client, admin, member.id, points=-100, reason="Correction", idempotency_key="take")
    assert taken.status_code == 201 and taken.json["balance"] == {"available": 0, "pending": 0}
    assert [e.points for e in entries(db_session, member.id)] == [100, -100]
    # The key refused before is free: nothing was recorded under it.
    again = adjust(client, admin, member.id, points=-1, reason="Correction", idempotency_key="take-too-much")
    assert again.status_code == 422 and again.json["reason"] == "insufficient_points"
    assert_ledger_consistent(db_session, member.id)


def test_the_same_key_replays_the_first_answer_and_a_different_body_is_a_conflict(client, db_session, admin):
    member = make_member(db_session)
    first = adjust(client, admin, member.id, points=40, reason="Birthday gift", idempotency_key="gift-1")
    again = adjust(client, admin, member.id, points=40, reason="Birthday gift", idempotency_key="gift-1")

    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    conflict = adjust(client, admin, member.id, points=41, reason="Birthday gift", idempotency_key="gift-1")
    assert conflict.status_code == 409 and conflict.json["reason"] == "idempotency_conflict"
    assert len(entries(db_session, member.id)) == 1
    # Keys are per member: the same key for another member is another adjustment.
    other = make_member(db_session)
    assert (
        adjust(client, admin, other.id, points=40, reason="Birthday gift", idempotency_key="gift-1").status_code == 201
    )
    assert (
        db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "member.adjust")) == 2
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"points": 10, "idempotency_key": "k"}, "reason"),
        ({"points": 10, "reason": "", "idempotency_key": "k"}, "reason"),
        ({"points": 10, "reason": "   ", "idempotency_key": "k"}, "reason"),
        ({"points": 0, "reason": "Nothing", "idempotency_key": "k"}, "points"),
        ({"points": 1.5, "reason": "Half", "idempotency_key": "k"}, "points"),
        ({"points": "10", "reason": "Text", "idempotency_key": "k"}, "points"),
        ({"points": 10, "reason": "No key"}, "idempotency_key"),
    ],
    ids=["no-reason", "empty-reason", "blank-reason", "zero", "float", "string", "no-key"],
)
def test_a_reason_and_a_whole_non_zero_number_of_points_are_required(client, db_session, admin, body, field):
    member = make_member(db_session)
    response = adjust(client, admin, member.id, **body)
    assert response.status_code == 422 and field in response.json["errors"]
    assert entries(db_session, member.id) == []


@pytest.mark.parametrize("role", ["marketer", "merchant"])
def test_only_an_admin_adjusts_points(client, db_session, role):
    member = make_member(db_session)
    merchant_id = make_merchant(db_session).id if role == "merchant" else None
    key = bearer(make_key(db_session, role, merchant_id=merchant_id))
    response = adjust(client, key, member.id, points=10, reason="Please", idempotency_key="k")
    assert response.status_code == 403 and response.json["reason"] == "forbidden"
    assert entries(db_session, member.id) == []


def test_an_unknown_member_is_404_and_a_closed_account_is_not_adjusted(client, db_session, admin):
    assert adjust(client, admin, "mbr_nobody", points=10, reason="x", idempotency_key="k").status_code == 404
    member = make_member(db_session)
    assert client.delete(f"/api/v1/members/{member.id}", headers=admin).status_code == 200
    closed = adjust(client, admin, member.id, points=10, reason="x", idempotency_key="k")
    assert closed.status_code == 409 and closed.json["reason"] == "invalid_state"
    assert db_session.get(Member, member.id).points_balance == 0
