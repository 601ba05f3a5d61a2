"""GET and PUT /tiers, and the tier a member and a receipt show, over HTTP."""

from __future__ import annotations

import copy
import json

import pytest

from tests.api.test_purchases import basket
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.factories_tiers import ladder


@pytest.fixture()
def admin(client, db_session):
    return bearer(make_key(db_session, "admin"))


def put_tiers(client, headers, tiers):
    return client.put("/api/v1/tiers", json=tiers, headers=headers)


def test_anyone_reads_the_tiers_lowest_first(client, admin):
    assert client.get("/api/v1/tiers").json == {"items": [], "next_cursor": None}
    response = put_tiers(client, admin, list(reversed(ladder())))
    assert response.status_code == 200, response.json
    assert response.json == {"items": ladder(), "next_cursor": None}
    assert client.get("/api/v1/tiers").json == {"items": ladder(), "next_cursor": None}


def test_the_tier_list_pages_by_rank(client, admin):
    put_tiers(client, admin, ladder())
    first = client.get("/api/v1/tiers?limit=2").json
    assert [t["code"] for t in first["items"]] == ["blue", "silver"] and first["next_cursor"]
    second = client.get(f"/api/v1/tiers?limit=2&cursor={first['next_cursor']}").json
    assert [t["code"] for t in second["items"]] == ["gold"] and second["next_cursor"] is None


@pytest.mark.parametrize(("role", "status"), [("marketer", 200), ("merchant", 403), ("terminal", 403)])
def test_admins_and_marketers_replace_the_tiers(client, db_session, role, status):
    if role == "terminal":
        _merchant, _store, _terminal, key, secret = make_till(db_session)
        data = json.dumps(ladder()).encode()
        headers = bearer(key) | signed_headers(secret, "PUT", "/api/v1/tiers", data)
        response = client.put("/api/v1/tiers", data=data, content_type="application/json", headers=headers)
    else:
        merchant_id = make_till(db_session)[0].id if role == "merchant" else None
        response = put_tiers(client, bearer(make_key(db_session, role, merchant_id=merchant_id)), ladder())
    assert response.status_code == status, response.json


def _with(index: int, **changes):
    tiers = ladder()
    tiers[index] |= changes
    return tiers


def _without(index: int, field: str):
    tiers = ladder()
    del tiers[index][field]
    return tiers


@pytest.mark.parametrize(
    ("body", "field_errors"),
    [
        (_with(1, code="gold"), {"2": ["code"]}),  # the later of the two is at fault
        (_with(2, rank=10), {"2": ["rank"]}),
        (_with(2, qualifying_points=1000), {"2": ["qualifying_points"]}),  # not above Silver's
        (_with(1, qualifying_points=6000), {"2": ["qualifying_points"]}),  # Gold would not be above Silver
        (_with(0, code="Blue"), {"0": ["code"]}),
        (_with(0, code="blue tier"), {"0": ["code"]}),
        (_with(0, code="-blue"), {"0": ["code"]}),
        (_with(0, code="b" * 33), {"0": ["code"]}),
        (_with(0, code=""), {"0": ["code"]}),
        (_with(0, name=""), {"0": ["name"]}),
        (_with(0, name="Blue\nline"), {"0": ["name"]}),
        (_with(0, name="x" * 101), {"0": ["name"]}),
        (_with(1, rank=1.5), {"1": ["rank"]}),
        (_with(1, rank=-1), {"1": ["rank"]}),
        (_with(1, rank=True), {"1": ["rank"]}),
        (_with(1, qualifying_points="1000"), {"1": ["qualifying_points"]}),
        (_with(1, qualifying_points=1000.0), {"1": ["qualifying_points"]}),
        (_with(1, qualifying_points=-5), {"1": ["qualifying_points"]}),
        (_with(1, benefits=["lounge"]), {"1": ["benefits"]}),
        (_with(1, benefits=None), {"1": ["benefits"]}),
        (_with(1, perks={}), {"1": ["perks"]}),
        (_without(2, "qualifying_points"), {"2": ["qualifying_points"]}),
        (_without(0, "code"), {"0": ["code"]}),
        ([{**ladder()[0], "rank": n, "code": f"t{n}", "qualifying_points": n} for n in range(51)], {"_schema": None}),
    ],
)
def test_a_bad_list_is_a_422_naming_the_tier_and_field_and_changes_nothing(client, admin, body, field_errors):
    assert put_tiers(client, admin, ladder()).status_code == 200
    response = put_tiers(client, admin, body)
    assert response.status_code == 422, response.json
    assert response.json["reason"] == "validation_error"
    errors = response.json["errors"]
    for key, fields in field_errors.items():
        assert key in errors, errors
        if fields is not None:
            assert sorted(errors[key]) == fields, errors
    assert client.get("/api/v1/tiers").json["items"] == ladder()


@pytest.mark.parametrize("body", [{"tiers": []}, "gold", None, 3])
def test_a_body_that_is_not_a_list_is_a_422(client, admin, body):
    response = client.put("/api/v1/tiers", data=json.dumps(body), content_type="application/json", headers=admin)
    assert response.status_code == 422 and response.json["reason"] == "validation_error"


def test_an_empty_list_removes_every_tier(client, admin):
    put_tiers(client, admin, ladder())
    assert put_tiers(client, admin, []).json == {"items": [], "next_cursor": None}


def test_the_change_is_audited_with_the_old_and_the_new_list(client, admin):
    put_tiers(client, admin, ladder())
    changed = copy.deepcopy(ladder())
    changed[2]["benefits"] = {"lounge": True}
    put_tiers(client, admin, changed)
    events = client.get("/api/v1/audit-events?object_type=tiers", headers=admin).json["items"]
    assert [e["action"] for e in events] == ["tiers.replace", "tiers.replace"]
    assert events[0]["data"]["old"] == ladder() and events[0]["data"]["new"] == changed


@pytest.fixture()
def till(client, db_session, admin):
    _merchant, _store, _terminal, key, secret = make_till(db_session)
    client.patch("/api/v1/program", json={"pending_days": 0}, headers=admin)
    rule = client.post(
        "/api/v1/rules",
        json={"name": "One point per euro", "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
        headers=admin,
    ).json
    client.post(f"/api/v1/rules/{rule['id']}/activate", headers=admin)

    def send(body):
        data = json.dumps(body).encode()
        headers = bearer(key) | signed_headers(secret, "POST", "/api/v1/purchases", data)
        return client.post("/api/v1/purchases", data=data, content_type="application/json", headers=headers)

    return send


def test_the_receipt_of_the_purchase_that_qualifies_shows_the_new_tier(client, db_session, admin, till):
    put_tiers(client, admin, ladder())
    member = make_member(db_session)
    assert client.get(f"/api/v1/members/{member.id}", headers=admin).json["tier"] == {
        "code": "blue",
        "name": "Blue",
        "progress": {"qualifying_points": 0, "next_tier": "silver", "points_to_next": 1000, "points_to_keep": 0},
        "at_risk_until": None,
    }
    small = till(basket(member, external_id="R-1", total_minor=90000, items=[])).json
    assert small["tier"]["code"] == "blue" and small["tier"]["progress"]["points_to_next"] == 100
    qualifying = till(basket(member, external_id="R-2", total_minor=10000, items=[]))
    assert qualifying.status_code == 201, qualifying.json
    assert qualifying.json["tier"] == {
        "code": "silver",
        "name": "Silver",
        "progress": {"qualifying_points": 1000, "next_tier": "gold", "points_to_next": 4000, "points_to_keep": 0},
        "at_risk_until": None,
    }
    read = client.get(f"/api/v1/members/{member.id}", headers=admin).json
    assert read["tier"] == qualifying.json["tier"]
    # A return lowers the qualifying points at once, the tier only at review.
    back = client.post(
        "/api/v1/purchases/{}/returns".format(qualifying.json["id"]),
        json={"external_id": "RET-1", "amount_minor": 10000},
        headers=admin,
    )
    assert back.status_code == 201, back.json
    after = client.get(f"/api/v1/members/{member.id}", headers=admin).json["tier"]
    assert after["code"] == "silver"
    assert after["progress"]["qualifying_points"] == 900 and after["progress"]["points_to_keep"] == 100


def test_a_member_list_shows_each_members_tier(client, db_session, admin, till):
    put_tiers(client, admin, ladder())
    rich, plain = make_member(db_session), make_member(db_session)
    till(basket(rich, external_id="R-1", total_minor=600000, items=[]))
    items = client.get("/api/v1/members", headers=admin).json["items"]
    by_id = {m["id"]: m["tier"]["code"] for m in items}
    assert by_id[rich.id] == "gold" and by_id[plain.id] == "blue"


def test_without_tiers_a_member_and_a_receipt_show_no_tier(client, db_session, admin, till):
    member = make_member(db_session)
    assert client.get(f"/api/v1/members/{member.id}", headers=admin).json["tier"] is None
    assert till(basket(member, items=[])).json["tier"] is None


def test_a_new_list_raises_members_who_now_qualify_once_the_review_has_run(client, db_session, admin, till, run_jobs):
    put_tiers(client, admin, ladder())
    member = make_member(db_session)
    till(basket(member, external_id="R-1", total_minor=70000, items=[]))  # 700: Blue
    run_jobs()
    cheaper = ladder()
    cheaper[1]["qualifying_points"] = 500
    put_tiers(client, admin, cheaper)
    run_jobs()
    assert client.get(f"/api/v1/members/{member.id}", headers=admin).json["tier"]["code"] == "silver"


def test_a_cursor_the_service_did_not_give_out_is_a_422(client):
    assert client.get("/api/v1/tiers?cursor=bm90LWEtcmFuaw").status_code == 422


def test_the_document_explains_replacing_the_list_and_who_may(client):
    put = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/tiers"]["put"]
    assert "move to the highest remaining tier" in put["description"]
    assert put["description"].endswith("Roles: admin, marketer.")
    assert put["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"


def test_a_look_up_answers_as_reading_the_member_with_tier_progress_and_pending_points(client, db_session, admin, till):
    put_tiers(client, admin, ladder())
    member = make_member(db_session, email="look.me@example.com", phone="+447911123470")
    other = make_member(db_session)
    till(basket(member, external_id="L-1", total_minor=120000, items=[]))
    till(basket(other, external_id="L-2", total_minor=600000, items=[]))
    client.patch("/api/v1/program", json={"pending_days": 14}, headers=admin)
    till(basket(member, external_id="L-3", total_minor=5000, items=[]))
    read = client.get(f"/api/v1/members/{member.id}", headers=admin).json
    assert read["tier"]["code"] == "silver" and read["tier"]["progress"]["qualifying_points"] == 1250
    assert read["balance"] == {"available": 1200, "pending": 50}
    for query in (f"card_number={member.card_number}", "email=look.me@example.com", "phone=%2B447911123470"):
        assert client.get(f"/api/v1/members?{query}", headers=admin).json["items"] == [read]
