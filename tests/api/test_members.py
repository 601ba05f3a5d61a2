"""Members: enrol, look up, read, update, erase, the QR card and the activity."""

import io
import itertools
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.ledger.models import LedgerEntry
from loyalty.members import cards
from loyalty.members.models import Member
from loyalty.notifications.models import Notification
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_till, signed_headers

MEMBER_FIELDS = {
    "id",
    "card_number",
    "email",
    "phone",
    "name",
    "locale",
    "status",
    "enrolled_at",
    "tier",
    "balance",
    "lifecycle_stage",
}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_enrolment_issues_a_valid_unique_card_and_reads_as_the_contract_says(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.post(
        "/api/v1/members",
        json={"email": "Ana.Costa@Example.COM", "phone": "+351 912 345 678", "name": " Ana ", "locale": "zh_Hant"},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.json
    member = response.json
    assert set(member) >= MEMBER_FIELDS
    assert member["email"] == "ana.costa@example.com"
    assert member["phone"] == "+351912345678"
    assert member["name"] == "Ana"
    assert member["locale"] == "zh_Hant"
    assert member["status"] == "active"
    assert member["balance"] == {"available": 0, "pending": 0}
    assert member["lifecycle_stage"] == "prospect"
    assert member["enrolled_at"].endswith("Z")
    assert cards.is_valid_card_number(member["card_number"])
    assert member["card_number"].startswith("6042")

    again = client.get(f"/api/v1/members/{member['id']}", headers=bearer(admin))
    assert again.status_code == 200 and again.json == member


def test_card_numbers_are_unique_and_not_sequential(client, db_session):
    numbers = [make_member(db_session).card_number for _ in range(20)]
    assert len(set(numbers)) == 20
    assert all(cards.is_valid_card_number(n) for n in numbers)
    bodies = sorted(int(n[4:15]) for n in numbers)
    gaps = {b - a for a, b in itertools.pairwise(bodies)}
    assert gaps != {1}  # not handed out in sequence


def test_a_mistyped_card_number_fails_its_check_digit():
    number = cards.new_card_number()
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert cards.is_valid_card_number(number)
    assert not cards.is_valid_card_number(wrong)
    assert not cards.is_valid_card_number(number[:-1])
    assert not cards.is_valid_card_number("60421234567890\uff11\uff12")  # full-width digits are not digits here


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"email": "dup@example.com"}, {"email": "DUP@example.com"}, "email"),
        ({"phone": "+447911123456"}, {"phone": "+44 7911 123456"}, "phone"),
        (
            {"email": "a@example.com", "phone": "+447911123457"},
            {"email": "b@example.com", "phone": "+447911123457"},
            "phone",
        ),
    ],
)
def test_enrolling_an_enrolled_email_or_phone_is_member_exists(client, db_session, first, second, field):
    admin = make_key(db_session, "admin")
    assert client.post("/api/v1/members", json=first, headers=bearer(admin)).status_code == 201
    before = count(db_session, Member)
    response = client.post("/api/v1/members", json=second, headers=bearer(admin))
    assert response.status_code == 409
    assert response.json["reason"] == "member_exists"
    assert field in response.json["errors"]
    assert count(db_session, Member) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "No contact"},
        {"email": None, "phone": None},
        {"email": "not-an-email"},
        {"phone": "07700900123"},  # not international
        {"phone": "+1555"},  # too short to be a number
        {"phone": "+44 7911 123456 ext"},
        {"email": "x@example.com", "locale": "fr"},
        {"email": "x@example.com", "marketing_opt_in": "yes"},
        {"email": "x@example.com", "referral_code": "NOSUCH99"},
        {"email": 42},
        {"email": "x@example.com", "balance": 1000},
        {"email": "x@example.com", "card_number": "6042000000000000"},
    ],
)
def test_bad_enrolments_are_422_and_write_nothing(client, db_session, redis_conn, body):
    admin = make_key(db_session, "admin")
    before = (count(db_session, Member), count(db_session, Notification), count(db_session, AuditEvent))
    response = client.post("/api/v1/members", json=body, headers=bearer(admin))
    assert response.status_code == 422, response.json
    assert response.json["reason"] in ("validation_error",)
    assert response.json["message"]
    assert (count(db_session, Member), count(db_session, Notification), count(db_session, AuditEvent)) == before
    assert redis_conn.dbsize() == 0  # no job was queued either


def test_a_referral_code_links_the_new_member_to_the_referrer(client, db_session):
    admin = make_key(db_session, "admin")
    referrer = make_member(db_session)
    response = client.post(
        "/api/v1/members",
        json={"email": "friend@example.com", "referral_code": referrer.referral_code.lower()},
        headers=bearer(admin),
    )
    assert response.status_code == 201
    assert db_session.get(Member, response.json["id"]).referred_by_member_id == referrer.id
    assert response.json["referral_code"] != referrer.referral_code


def test_enrolment_queues_a_welcome_that_the_worker_delivers(client, db_session, run_jobs):
    admin = make_key(db_session, "admin")
    member = client.post("/api/v1/members", json={"phone": "+447911123458", "name": "Sam"}, headers=bearer(admin)).json
    page = client.get(f"/api/v1/notifications?member_id={member['id']}", headers=bearer(admin)).json
    assert [(n["template"], n["channel"], n["status"]) for n in page["items"]] == [("welcome", "sms", "pending")]
    assert run_jobs() >= 1
    page = client.get(f"/api/v1/notifications?member_id={member['id']}", headers=bearer(admin)).json
    assert page["items"][0]["status"] == "sent"


@pytest.mark.parametrize("identifier", ["card_number", "email", "phone"])
def test_members_are_found_by_card_email_or_phone(client, db_session, identifier):
    admin = make_key(db_session, "admin")
    member = make_member(db_session, email="find.me@example.com", phone="+85291234567")
    make_member(db_session)  # someone else
    value = {
        "card_number": f"{member.card_number[:4]} {member.card_number[4:8]}-{member.card_number[8:]}",
        "email": "FIND.ME@example.com",
        "phone": "%2B85291234567",
    }[identifier]
    page = client.get(f"/api/v1/members?{identifier}={value}", headers=bearer(admin)).json
    assert [m["id"] for m in page["items"]] == [member.id]
    assert page["next_cursor"] is None


def test_an_unencoded_plus_in_a_phone_look_up_still_finds_the_member(client, db_session):
    admin = make_key(db_session, "admin")
    member = make_member(db_session, phone="+85291234568")
    page = client.get("/api/v1/members?phone=+85291234568", headers=bearer(admin)).json
    assert [m["id"] for m in page["items"]] == [member.id]


def test_a_look_up_that_matches_nobody_is_an_empty_page(client, db_session):
    admin = make_key(db_session, "admin")
    page = client.get("/api/v1/members?email=nobody@example.com", headers=bearer(admin))
    assert page.status_code == 200 and page.json == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query",
    [
        "card_number=6042123412341234",
        "card_number=1234",
        "email=not-an-email",
        "phone=12345",
        "email=a@b.co&phone=%2B447911123456",
    ],
)
def test_malformed_look_ups_are_422(client, db_session, query):
    admin = make_key(db_session, "admin")
    if query == "card_number=6042123412341234" and cards.is_valid_card_number("6042123412341234"):
        pytest.fail("the sample card number must fail its check digit")
    response = client.get(f"/api/v1/members?{query}", headers=bearer(admin))
    assert response.status_code == 422
    assert response.json["reason"] == "validation_error"


def test_admins_list_every_member_page_by_page(client, db_session):
    admin = make_key(db_session, "admin")
    made = {make_member(db_session).id for _ in range(5)}
    seen, cursor = [], None
    while True:
        page = client.get(f"/api/v1/members?limit=2{'&cursor=' + cursor if cursor else ''}", headers=bearer(admin))
        seen += [m["id"] for m in page.json["items"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert set(seen) == made and len(seen) == 5


def test_merchants_look_members_up_by_identifier_only(client, db_session):
    merchant = make_merchant(db_session)
    key = make_key(db_session, "merchant", merchant_id=merchant.id)
    member = make_member(db_session)
    assert client.get("/api/v1/members", headers=bearer(key)).status_code == 403
    found = client.get(f"/api/v1/members?card_number={member.card_number}", headers=bearer(key))
    assert [m["id"] for m in found.json["items"]] == [member.id]
    assert client.get(f"/api/v1/members/{member.id}", headers=bearer(key)).status_code == 200
    assert client.get(f"/api/v1/members/{member.id}/activity", headers=bearer(key)).status_code == 403
    assert client.patch(f"/api/v1/members/{member.id}", json={"name": "X"}, headers=bearer(key)).status_code == 403
    assert client.delete(f"/api/v1/members/{member.id}", headers=bearer(key)).status_code == 403
    assert client.post("/api/v1/members", json={"email": "m@example.com"}, headers=bearer(key)).status_code == 403


def test_marketers_read_members_but_do_not_change_them(client, db_session):
    key = make_key(db_session, "marketer")
    member = make_member(db_session)
    assert client.get("/api/v1/members", headers=bearer(key)).status_code == 200
    assert client.get(f"/api/v1/members/{member.id}/activity", headers=bearer(key)).status_code == 200
    assert client.patch(f"/api/v1/members/{member.id}", json={"name": "X"}, headers=bearer(key)).status_code == 403
    assert client.post("/api/v1/members", json={"email": "m@example.com"}, headers=bearer(key)).status_code == 403


def test_an_unknown_member_is_404(client, db_session):
    admin = make_key(db_session, "admin")
    for path in ("", "/card.svg", "/card.png", "/activity"):
        response = client.get(f"/api/v1/members/mbr_01NOSUCHMEMBER{path}", headers=bearer(admin))
        assert response.status_code == 404 and response.json["reason"] == "not_found"


def test_admin_updates_contact_details_and_the_change_is_audited_without_values(client, db_session):
    admin = make_key(db_session, "admin")
    member = make_member(db_session, email="old@example.com")
    response = client.patch(
        f"/api/v1/members/{member.id}",
        json={"email": "New@Example.com", "phone": "+447911123459", "marketing_opt_in": True, "locale": "zh_Hans"},
        headers=bearer(admin),
    )
    assert response.status_code == 200
    body = response.json
    assert (body["email"], body["phone"], body["locale"]) == ("new@example.com", "+447911123459", "zh_Hans")
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.update")).one()
    assert event.object_id == member.id
    assert event.data == {"fields": ["email", "locale", "marketing_opt_in", "phone"]}
    assert "new@example.com" not in str(event.data)


def test_an_update_cannot_take_another_members_email_or_remove_every_contact(client, db_session):
    admin = make_key(db_session, "admin")
    make_member(db_session, email="taken@example.com")
    member = make_member(db_session, email="mine@example.com")
    taken = client.patch(f"/api/v1/members/{member.id}", json={"email": "taken@example.com"}, headers=bearer(admin))
    assert taken.status_code == 409 and taken.json["reason"] == "member_exists"
    empty = client.patch(f"/api/v1/members/{member.id}", json={"email": None}, headers=bearer(admin))
    assert empty.status_code == 422
    bad = client.patch(f"/api/v1/members/{member.id}", json={"status": "closed"}, headers=bearer(admin))
    assert bad.status_code == 422
    db_session.expire_all()
    assert db_session.get(Member, member.id).email == "mine@example.com"


def test_erasure_removes_personal_data_keeps_the_ledger_and_closes_the_account(client, db_session, run_jobs):
    admin = make_key(db_session, "admin")
    member = make_member(db_session, email="gone@example.com", phone="+447911123460", name="Gone Soon")
    card = member.card_number
    db_session.add(
        LedgerEntry(
            member_id=member.id, kind="adjust", points=50, balance_after=50, actor_kind="cli", actor_name="test"
        )
    )
    db_session.commit()

    response = client.delete(f"/api/v1/members/{member.id}", headers=bearer(admin))
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "closed"
    assert (body["email"], body["phone"], body["name"], body["card_number"]) == (None, None, None, None)

    # The ledger stays, anonymised; nobody finds the member by the old identifiers.
    activity = client.get(f"/api/v1/members/{member.id}/activity", headers=bearer(admin)).json
    assert [e["points"] for e in activity["items"]] == [50]
    for query in (f"card_number={card}", "email=gone@example.com", "phone=%2B447911123460"):
        assert client.get(f"/api/v1/members?{query}", headers=bearer(admin)).json["items"] == []
    # The welcome that was still queued is cancelled and forgets the address.
    run_jobs()
    notification = db_session.scalars(select(Notification).where(Notification.member_id == member.id)).one()
    assert notification.status == "cancelled" and notification.recipient is None
    # Nothing personal is left on the row.
    row = db_session.get(Member, member.id)
    for value in (row.email, row.phone, row.name, row.card_number):
        assert value is None
    assert client.get(f"/api/v1/members/{member.id}/card.svg", headers=bearer(admin)).status_code == 404
    again = client.delete(f"/api/v1/members/{member.id}", headers=bearer(admin))
    assert again.status_code == 409
    # The email is free to enrol again, as a new member.
    new = client.post("/api/v1/members", json={"email": "gone@example.com"}, headers=bearer(admin))
    assert new.status_code == 201 and new.json["id"] != member.id
    assert [e.action for e in db_session.scalars(select(AuditEvent).where(AuditEvent.object_id == member.id))].count(
        "member.erase"
    ) == 1


def test_the_qr_card_encodes_the_card_number(client, db_session):
    admin = make_key(db_session, "admin")
    member = make_member(db_session)
    svg = client.get(f"/api/v1/members/{member.id}/card.svg", headers=bearer(admin))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.data.startswith(b"<svg") and b"<path" in svg.data
    png = client.get(f"/api/v1/members/{member.id}/card.png?size=4", headers=bearer(admin))
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    # A QR code of 16 digits is version 1 (21 modules) plus a 4-module quiet zone on each side.
    assert image.size == ((21 + 8) * 4, (21 + 8) * 4)
    assert image.convert("L").getpixel((0, 0)) == 255  # white quiet zone
    too_big = client.get(f"/api/v1/members/{member.id}/card.png?size=400", headers=bearer(admin))
    assert too_big.status_code == 422


def test_activity_is_newest_first_and_filters_by_kind_and_merchant(client, db_session):
    admin = make_key(db_session, "admin")
    member = make_member(db_session)
    for kind, points, merchant in (("earn", 100, "mer_a"), ("redeem", -40, "mer_b"), ("earn", 30, "mer_b")):
        db_session.add(
            LedgerEntry(
                member_id=member.id,
                kind=kind,
                points=points,
                balance_after=0,
                merchant_id=merchant,
                breakdown=[{"rule_id": "rul_1", "rule_name": "Base", "points": points}] if kind == "earn" else [],
                actor_kind="cli",
                actor_name="test",
            )
        )
        db_session.flush()
    db_session.commit()
    url = f"/api/v1/members/{member.id}/activity"
    items = client.get(url, headers=bearer(admin)).json["items"]
    assert [e["points"] for e in items] == [30, -40, 100]
    assert items[0]["breakdown"] == [{"rule_id": "rul_1", "rule_name": "Base", "points": 30}]
    assert [e["points"] for e in client.get(url + "?kind=earn", headers=bearer(admin)).json["items"]] == [30, 100]
    assert [e["points"] for e in client.get(url + "?merchant_id=mer_b", headers=bearer(admin)).json["items"]] == [
        30,
        -40,
    ]
    assert client.get(url + "?kind=gift", headers=bearer(admin)).status_code == 422


def test_a_till_enrols_a_member_with_a_signed_request_and_the_enrolment_records_its_store(client, db_session):
    merchant, store, _terminal, key, signing_secret = make_till(db_session)
    body = json.dumps({"email": "till@example.com", "name": "At the till"}).encode()
    unsigned = client.post("/api/v1/members", data=body, content_type="application/json", headers=bearer(key))
    assert unsigned.status_code == 401 and unsigned.json["reason"] == "bad_signature"
    assert count(db_session, Member) == 0

    headers = bearer(key) | signed_headers(signing_secret, "POST", "/api/v1/members", body)
    response = client.post("/api/v1/members", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 201
    row = db_session.get(Member, response.json["id"])
    assert (row.enrolled_by_merchant_id, row.enrolled_at_store_id) == (merchant.id, store.id)

    path = f"/api/v1/members/{row.id}/card.png"
    card = client.get(path, headers=bearer(key) | signed_headers(signing_secret, "GET", path))
    assert card.status_code == 200 and card.mimetype == "image/png"
