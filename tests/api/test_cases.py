"""The cases API: a till reports missing points, the operator works the queue and resolves once; scopes by role."""

from __future__ import annotations

import json

import pytest

from loyalty.actors import cli_actor
from loyalty.program.services import update_program
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.factories_purchases import buy


@pytest.fixture()
def world(client, db_session):
    update_program(db_session, changes={"pending_days": 0}, actor=cli_actor())
    db_session.commit()
    merchant, store, _terminal, terminal_key, secret = make_till(db_session)
    other, other_store, _t, other_terminal_key, other_secret = make_till(db_session)
    return {
        "merchant": merchant,
        "store": store,
        "other_store": other_store,
        "till": (terminal_key, secret),
        "other_till": (other_terminal_key, other_secret),
        "admin": bearer(make_key(db_session, "admin")),
        "marketer": bearer(make_key(db_session, "marketer")),
        "merchant_key": bearer(make_key(db_session, "merchant", merchant_id=merchant.id)),
        "other_merchant_key": bearer(make_key(db_session, "merchant", merchant_id=other.id)),
    }


def from_till(client, till, method, path, body=None):
    key, secret = till
    data = json.dumps(body).encode() if body is not None else b""
    headers = bearer(key) | signed_headers(secret, method, path, data)
    return client.open(path, method=method, data=data or None, content_type="application/json", headers=headers)


def test_a_cashier_reports_missing_points_on_a_receipt_of_the_store(client, db_session, world):
    member = make_member(db_session)
    sale = buy(db_session, world["store"], external_id="R-501", total_minor=2500).receipt

    response = from_till(
        client,
        world["till"],
        "POST",
        f"/api/v1/members/{member.id}/cases",
        {"receipt_ref": "R-501", "points_claimed": 25, "description": "Card did not scan"},
    )

    assert response.status_code == 201, response.json
    body = response.json
    assert (body["source"], body["status"], body["priority"], body["kind"]) == (
        "cashier",
        "open",
        "normal",
        "missing_points",
    )
    assert (body["purchase_id"], body["store_id"], body["receipt_ref"]) == (sale["id"], world["store"].id, "R-501")
    assert body["notes"] == [] and body["opened_at"].endswith("Z")
    # The till reads it back, and lists it.
    read = from_till(client, world["till"], "GET", f"/api/v1/cases/{body['id']}")
    assert read.status_code == 200 and read.json["id"] == body["id"]
    listed = from_till(client, world["till"], "GET", "/api/v1/cases")
    assert [c["id"] for c in listed.json["items"]] == [body["id"]]


def test_a_till_cannot_report_on_another_stores_purchase_nor_without_a_receipt(client, db_session, world):
    member = make_member(db_session)
    foreign = buy(db_session, world["other_store"]).receipt
    path = f"/api/v1/members/{member.id}/cases"
    refused = from_till(client, world["till"], "POST", path, {"purchase_id": foreign["id"]})
    assert refused.status_code == 404 and refused.json["reason"] == "not_found"
    missing = from_till(client, world["till"], "POST", path, {"points_claimed": 10})
    assert missing.status_code == 422 and "receipt_ref" in missing.json["errors"]
    assert client.get("/api/v1/cases", headers=world["admin"]).json["items"] == []


def test_another_merchants_case_is_not_found_and_staff_notes_stay_internal(client, db_session, world):
    member = make_member(db_session)
    opened = from_till(client, world["till"], "POST", f"/api/v1/members/{member.id}/cases", {"receipt_ref": "R-1"})
    case_id = opened.json["id"]
    noted = client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Checking"}, headers=world["admin"])
    assert noted.status_code == 201 and noted.json["status"] == "in_progress"

    for headers in (world["other_merchant_key"],):
        assert client.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 404
        assert client.get("/api/v1/cases", headers=headers).json["items"] == []
    assert from_till(client, world["other_till"], "GET", f"/api/v1/cases/{case_id}").status_code == 404
    own = client.get(f"/api/v1/cases/{case_id}", headers=world["merchant_key"])
    assert own.status_code == 200 and own.json["notes"] == []
    staff_view = client.get(f"/api/v1/cases/{case_id}", headers=world["marketer"]).json
    assert [n["body"] for n in staff_view["notes"]] == ["Checking"]
    # A case the operator opened is not the merchant's to read, even about its store.
    staff_case = client.post(
        f"/api/v1/members/{member.id}/cases", json={"store_id": world["store"].id}, headers=world["admin"]
    ).json
    assert staff_case["source"] == "staff" and staff_case["merchant_id"] == world["merchant"].id
    assert client.get(f"/api/v1/cases/{staff_case['id']}", headers=world["merchant_key"]).status_code == 404


def test_the_operator_resolves_once_and_the_credit_is_in_the_members_activity(client, db_session, world):
    member = make_member(db_session)
    case = client.post(
        f"/api/v1/members/{member.id}/cases", json={"receipt_ref": "R-9", "points_claimed": 80}, headers=world["admin"]
    ).json
    path = f"/api/v1/cases/{case['id']}/resolve"

    first = client.post(path, json={"points": 80, "reason": "Seen on the till journal"}, headers=world["admin"])
    again = client.post(path, json={"points": 80, "reason": "Seen on the till journal"}, headers=world["admin"])
    other = client.post(path, json={"points": 90, "reason": "Seen on the till journal"}, headers=world["admin"])

    assert first.status_code == 200, first.json
    assert (first.json["status"], first.json["points_granted"]) == ("resolved", 80)
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert other.status_code == 409 and other.json["reason"] == "invalid_state"
    activity = client.get(f"/api/v1/members/{member.id}/activity", headers=world["admin"]).json["items"]
    assert [(a["kind"], a["points"], a["note"]) for a in activity] == [
        ("adjust", 80, f"Case {case['id']}: Seen on the till journal")
    ]
    member_body = client.get(f"/api/v1/members/{member.id}", headers=world["admin"]).json
    assert member_body["balance"]["available"] == 80
    marketer_try = client.post(path, json={"points": 80, "reason": "x"}, headers=world["marketer"])
    assert marketer_try.status_code == 403


def test_a_rejected_case_credits_nothing(client, db_session, world):
    member = make_member(db_session)
    case = client.post(f"/api/v1/members/{member.id}/cases", json={}, headers=world["admin"]).json
    rejected = client.post(
        f"/api/v1/cases/{case['id']}/reject",
        json={"reason": "Bought at a shop outside the program"},
        headers=world["admin"],
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert [n["body"] for n in rejected.json["notes"]] == ["Rejected: Bought at a shop outside the program"]
    assert client.get(f"/api/v1/members/{member.id}/activity", headers=world["admin"]).json["items"] == []


def test_the_queue_lists_urgent_first_then_oldest_and_pages_and_filters(client, db_session, world):
    members = [make_member(db_session) for _ in range(3)]
    opened = []
    for i in range(7):
        points = 5000 if i in (2, 5) else 10  # two urgent ones, by the points claimed
        body = {"receipt_ref": f"Q-{i}", "points_claimed": points}
        opened.append(client.post(f"/api/v1/members/{members[i % 3].id}/cases", json=body, headers=world["admin"]).json)
    # Members 0 and 1 complain again: every later case of theirs is a repeat, so urgent.
    expected_urgent = [c["id"] for c in opened if c["priority"] == "urgent"]
    expected_normal = [c["id"] for c in opened if c["priority"] == "normal"]
    assert opened[2]["priority"] == "urgent" and opened[0]["priority"] == "normal"

    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/cases",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=world["marketer"],
        ).json
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected_urgent + expected_normal

    urgent = client.get("/api/v1/cases", query_string={"priority": "urgent"}, headers=world["admin"]).json["items"]
    assert [c["id"] for c in urgent] == expected_urgent
    mine = client.get("/api/v1/cases", query_string={"member_id": members[2].id}, headers=world["admin"]).json
    assert {c["member_id"] for c in mine["items"]} == {members[2].id}
    assert client.get("/api/v1/cases", query_string={"status": "resolved"}, headers=world["admin"]).json["items"] == []
    bad = client.get("/api/v1/cases", query_string={"cursor": "not-a-cursor"}, headers=world["admin"])
    assert bad.status_code == 422


def test_an_unknown_member_or_case_is_not_found(client, world):
    assert client.post("/api/v1/members/mbr_nobody/cases", json={}, headers=world["admin"]).status_code == 404
    assert client.get("/api/v1/cases/case_nothing", headers=world["admin"]).status_code == 404
