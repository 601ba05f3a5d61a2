"""The rewards catalog over HTTP: who writes what, who sees what, and the public list for the portal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.db import isoformat_z, utcnow
from loyalty.rewards.models import Reward
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_merchant_key, make_till, signed_headers
from tests.factories_rewards import give_points, make_reward, redeem


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def reward_events(session) -> list[str]:
    return sorted(session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "reward")))


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def shop(db_session):
    """A merchant and its key."""
    merchant = make_merchant(db_session)
    return merchant, bearer(make_merchant_key(db_session, merchant.id))


def create(client, headers, **body) -> dict:
    response = client.post("/api/v1/rewards", json={"name": "Free coffee", "points_cost": 150, **body}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def test_admin_adds_a_reward_and_reads_it_back_with_its_stock(client, db_session, admin):
    starts = utcnow() - timedelta(days=1)
    reward = create(
        client,
        admin,
        description="A regular coffee at any partner.",
        stock=500,
        per_member_limit=2,
        starts_at=isoformat_z(starts),
        ends_at="2099-01-01T00:00:00+01:00",
    )
    assert reward["id"].startswith("rwd_")
    assert reward["merchant_id"] is None and reward["status"] == "active" and reward["available"] is True
    assert (reward["stock"], reward["issued"], reward["remaining"]) == (500, 0, 500)
    assert reward["ends_at"] == "2098-12-31T23:00:00.000Z"
    assert reward["valid_days"] == 30  # the default validity of a code
    read = client.get(f"/api/v1/rewards/{reward['id']}", headers=admin)
    assert read.status_code == 200 and read.json == reward
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.object_id == reward["id"]))
    assert event.action == "reward.create" and event.data["points_cost"] == 150


def test_a_marketer_writes_rewards_and_a_terminal_cannot(client, db_session):
    marketer = bearer(make_key(db_session, "marketer"))
    assert create(client, marketer)["merchant_id"] is None
    _merchant, _store, _terminal, key, secret = make_till(db_session)
    body = json.dumps({"name": "Nope", "points_cost": 1}).encode()
    response = client.post(
        "/api/v1/rewards",
        data=body,
        content_type="application/json",
        headers=bearer(key) | signed_headers(secret, "POST", "/api/v1/rewards", body),
    )
    assert response.status_code == 403 and response.json["reason"] == "forbidden"


def test_a_merchants_reward_is_its_own_and_it_sees_no_other(client, db_session, admin, shop):
    merchant, key = shop
    own = create(client, key)
    assert own["merchant_id"] == merchant.id
    operator = create(client, admin)
    other = create(client, admin, merchant_id=make_merchant(db_session).id)

    assert ids(client.get("/api/v1/rewards", headers=key)) == [own["id"]]
    for reward in (operator, other):
        assert client.get(f"/api/v1/rewards/{reward['id']}", headers=key).status_code == 404
        patched = client.patch(f"/api/v1/rewards/{reward['id']}", json={"name": "Mine now"}, headers=key)
        assert patched.status_code == 404
    assert client.get(f"/api/v1/rewards/{own['id']}", headers=key).status_code == 200


def test_a_merchant_cannot_offer_an_operator_reward_or_another_merchants(client, db_session, shop):
    _merchant, key = shop
    operator = client.post("/api/v1/rewards", json={"name": "X", "points_cost": 1, "merchant_id": None}, headers=key)
    assert operator.status_code == 403
    other = make_merchant(db_session)
    foreign = client.post("/api/v1/rewards", json={"name": "X", "points_cost": 1, "merchant_id": other.id}, headers=key)
    assert foreign.status_code == 422 and foreign.json["errors"] == {"merchant_id": ["No such merchant."]}
    assert count(db_session, Reward) == 0


def test_without_a_key_only_the_rewards_offered_now_are_listed_without_stock_figures(client, db_session, admin):
    now = utcnow()
    offered = make_reward(db_session, stock=3)
    unlimited = make_reward(db_session, merchant_id=make_merchant(db_session).id)
    make_reward(db_session, starts_at=now + timedelta(days=1))
    make_reward(db_session, ends_at=now - timedelta(seconds=1))
    archived = make_reward(db_session)
    client.patch(f"/api/v1/rewards/{archived.id}", json={"status": "archived"}, headers=admin)

    public = client.get("/api/v1/rewards")
    assert ids(public) == [unlimited.id, offered.id]
    assert all(not {"stock", "issued", "remaining"} & set(item) for item in public.json["items"])
    assert all(item["available"] for item in public.json["items"])
    # A key, when sent, must be good.
    assert client.get("/api/v1/rewards", headers=bearer("lk_wrong")).status_code == 401
    # Staff see everything, and filter.
    assert len(ids(client.get("/api/v1/rewards", headers=admin))) == 5
    assert ids(client.get("/api/v1/rewards?status=archived", headers=admin)) == [archived.id]
    assert ids(client.get("/api/v1/rewards?available=true", headers=admin)) == [unlimited.id, offered.id]
    assert len(ids(client.get("/api/v1/rewards?available=false", headers=admin))) == 3
    merchant_id = unlimited.merchant_id
    assert ids(client.get(f"/api/v1/rewards?merchant_id={merchant_id}", headers=admin)) == [unlimited.id]
    page = client.get("/api/v1/rewards?limit=2", headers=admin).json
    rest = client.get(f"/api/v1/rewards?limit=2&cursor={page['next_cursor']}", headers=admin).json
    assert len(page["items"]) == 2 and len(rest["items"]) == 2 and rest["next_cursor"] is not None


def test_a_terminal_lists_the_rewards_it_can_redeem(client, db_session):
    merchant, _store, _terminal, key, secret = make_till(db_session)
    operator = make_reward(db_session)
    own = make_reward(db_session, merchant_id=merchant.id)
    make_reward(db_session, merchant_id=make_merchant(db_session).id)
    headers = bearer(key) | signed_headers(secret, "GET", "/api/v1/rewards")
    assert ids(client.get("/api/v1/rewards", headers=headers)) == [own.id, operator.id]


def test_a_change_is_audited_with_old_and_new_values_and_archiving_stops_redemptions(client, db_session, admin):
    reward = create(client, admin, stock=10)
    changed = client.patch(
        f"/api/v1/rewards/{reward['id']}", json={"points_cost": 200, "stock": None, "status": "archived"}, headers=admin
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["points_cost"] == 200 and changed.json["stock"] is None
    assert changed.json["status"] == "archived" and changed.json["available"] is False
    event = db_session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == reward["id"], AuditEvent.action == "reward.update")
    )
    assert event.data == {
        "points_cost": {"old": 150, "new": 200},
        "stock": {"old": 10, "new": None},
        "status": {"old": "active", "new": "archived"},
    }
    # Nothing changed: nothing audited.
    same = client.patch(f"/api/v1/rewards/{reward['id']}", json={"points_cost": 200}, headers=admin)
    assert same.status_code == 200
    assert reward_events(db_session) == ["reward.create", "reward.update"]


def test_the_stock_cannot_go_below_what_is_issued_and_the_merchant_cannot_change(client, db_session, admin):
    reward = make_reward(db_session, points_cost=10, stock=5)
    for _ in range(3):
        member = make_member(db_session)
        give_points(db_session, member, 10)
        redeem(db_session, member, reward)
    lower = client.patch(f"/api/v1/rewards/{reward.id}", json={"stock": 2}, headers=admin)
    assert lower.status_code == 422 and "stock" in lower.json["errors"]
    assert client.patch(f"/api/v1/rewards/{reward.id}", json={"stock": 3}, headers=admin).json["remaining"] == 0
    moved = client.patch(
        f"/api/v1/rewards/{reward.id}", json={"merchant_id": make_merchant(db_session).id}, headers=admin
    )
    assert moved.status_code == 422 and "merchant_id" in moved.json["errors"]


@pytest.mark.parametrize(
    "change",
    [
        {"points_cost": 0},
        {"points_cost": -5},
        {"points_cost": 1.5},
        {"points_cost": "150"},
        {"points_cost": None},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "Free\u0000coffee"},
        {"stock": -1},
        {"stock": 2.0},
        {"per_member_limit": 0},
        {"valid_days": 0},
        {"min_tier": ""},
        {"starts_at": "2026-12-01T00:00:00"},
        {"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
        {"merchant_id": "mer_nobody"},
        {"bonus": 1},
    ],
)
def test_bad_rewards_are_a_422_and_nothing_is_written(client, db_session, admin, change):
    body = {"name": "Free coffee", "points_cost": 150} | change
    response = client.post("/api/v1/rewards", json=body, headers=admin)
    assert response.status_code == 422, response.json
    assert response.json["reason"] == "validation_error" and response.json["errors"]
    assert count(db_session, Reward) == 0 and reward_events(db_session) == []


@pytest.mark.parametrize(
    "change",
    [{"points_cost": 0}, {"name": None}, {"status": "deleted"}, {"ends_at": "2000-01-01T00:00:00Z"}, {"x": 1}],
)
def test_bad_changes_are_a_422_and_the_reward_stays_as_it_was(client, db_session, admin, change):
    reward = make_reward(db_session, starts_at=utcnow() - timedelta(days=1))
    before = client.get(f"/api/v1/rewards/{reward.id}", headers=admin).json
    response = client.patch(f"/api/v1/rewards/{reward.id}", json=change, headers=admin)
    assert response.status_code == 422, response.json
    assert client.get(f"/api/v1/rewards/{reward.id}", headers=admin).json == before
