"""Redemptions over HTTP: rewards for points with a code used once at the till, points as payment, cancellations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty.audit.models import AuditEvent
from loyalty.db import utcnow
from loyalty.ledger.models import LedgerEntry
from loyalty.qr import qr_svg
from loyalty.rewards.models import Redemption, Reward
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_till, signed_headers
from tests.factories_rewards import give_points, make_reward
from tests.ledger_checks import assert_ledger_consistent


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def terminal_sender(client, key, secret):
    def send(method: str, path: str, body=None, *, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        headers = bearer(key) | signed_headers(secret, method, path, data)
        return client.open(path, method=method, data=data or None, content_type="application/json", headers=headers)

    return send


@pytest.fixture()
def till(client, db_session):
    merchant, store, _terminal, key, secret = make_till(db_session)
    return {
        "merchant": merchant,
        "store": store,
        "send": terminal_sender(client, key, secret),
        "admin": bearer(make_key(db_session, "admin")),
    }


def another_till(client, db_session):
    merchant, store, _terminal, key, secret = make_till(db_session)
    return merchant, store, terminal_sender(client, key, secret)


def member_with(db_session, points: int, **kwargs):
    member = make_member(db_session)
    if points:
        give_points(db_session, member, points, **kwargs)
    return member


def balance(client, till, member) -> dict:
    return client.get(f"/api/v1/members/{member.id}", headers=till["admin"]).json["balance"]


def redeem(till, member, reward, key: str = "K-1", **extra):
    body = {"member_id": member.id, "reward_id": reward.id, "idempotency_key": key} | extra
    return till["send"]("POST", "/api/v1/redemptions", body)


def use(till, code: str, **extra):
    return till["send"]("POST", "/api/v1/redemptions/use", {"code": code} | extra)


# ---- rewards ---------------------------------------------------------------------------------


def test_a_till_redeems_a_reward_the_points_leave_at_once_and_a_code_is_issued(client, db_session, till):
    member = member_with(db_session, 500)
    reward = make_reward(db_session, points_cost=150, stock=10, valid_days=7)
    response = redeem(till, member, reward)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"].startswith("rdm_") and body["kind"] == "reward" and body["reward_id"] == reward.id
    assert body["status"] == "issued" and body["points"] == 150
    assert body["balance"] == {"available": 350, "pending": 0} == balance(client, till, member)
    code = body["code"]
    assert len(code) == 14 and code.count("-") == 2
    assert body["expires_at"].endswith("Z")
    assert abs(datetime.fromisoformat(body["expires_at"]) - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)

    read = client.get(f"/api/v1/redemptions/{body['id']}", headers=till["admin"]).json
    assert read["code"] == code and read["status"] == "issued"
    assert read["merchant_id"] == till["merchant"].id and read["store_id"] == till["store"].id
    activity = client.get(f"/api/v1/members/{member.id}/activity", headers=till["admin"]).json["items"]
    assert (activity[0]["kind"], activity[0]["points"], activity[0]["redemption_id"]) == ("redeem", -150, body["id"])
    assert db_session.get(Reward, reward.id).issued == 1
    assert_ledger_consistent(db_session, member.id)


def test_the_code_is_shown_as_a_qr_code(client, db_session, till):
    member = member_with(db_session, 100)
    body = redeem(till, member, make_reward(db_session, points_cost=100)).json
    image = client.get(f"/api/v1/redemptions/{body['id']}/qr.svg", headers=till["admin"])
    assert image.status_code == 200 and image.mimetype == "image/svg+xml"
    assert image.data == qr_svg(body["code"]) and b"<svg" in image.data[:200]


def test_a_retry_with_the_same_key_replays_and_another_body_is_a_conflict(client, db_session, till):
    member = member_with(db_session, 500)
    reward = make_reward(db_session, points_cost=100)
    raw = json.dumps({"member_id": member.id, "reward_id": reward.id, "idempotency_key": "K-7"}).encode()
    first = till["send"]("POST", "/api/v1/redemptions", raw=raw)
    # The same content with other spacing and key order is the same body.
    reordered = json.dumps(dict(reversed(list(json.loads(raw).items()))), indent=2).encode()
    again = till["send"]("POST", "/api/v1/redemptions", raw=reordered)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.data == first.data
    other = make_reward(db_session, points_cost=100)
    conflict = redeem(till, member, other, key="K-7")
    assert conflict.status_code == 409 and conflict.json["reason"] == "idempotency_conflict"
    payment = till["send"](
        "POST", "/api/v1/redemptions", {"member_id": member.id, "points": 100, "idempotency_key": "K-7"}
    )
    assert payment.status_code == 409 and payment.json["reason"] == "idempotency_conflict"
    # Another merchant's till reusing the member's key does not read the first receipt.
    _merchant, _store, send = another_till(client, db_session)
    foreign = send("POST", "/api/v1/redemptions", raw=raw)
    assert foreign.status_code == 409 and foreign.json["reason"] == "idempotency_conflict"
    assert count(db_session, Redemption) == 1
    assert balance(client, till, member)["available"] == 400


def test_not_enough_points_is_a_422_and_nothing_changes(client, db_session, till):
    member = member_with(db_session, 99)
    reward = make_reward(db_session, points_cost=100, stock=1)
    response = redeem(till, member, reward)
    assert response.status_code == 422 and response.json["reason"] == "insufficient_points"
    assert "99" in response.json["message"]
    assert count(db_session, Redemption) == 0 and count(db_session, LedgerEntry) == 1
    assert db_session.get(Reward, reward.id).issued == 0
    # The same key works once the member has the points.
    give_points(db_session, member, 1)
    assert redeem(till, member, reward).status_code == 201


def unavailable_rewards(db_session):
    now = utcnow()
    return {
        "out of stock": make_reward(db_session, points_cost=10, stock=0),
        "not yet": make_reward(db_session, points_cost=10, starts_at=now + timedelta(hours=1)),
        "over": make_reward(db_session, points_cost=10, ends_at=now - timedelta(seconds=1)),
        "tier": make_reward(db_session, points_cost=10, min_tier="gold"),
    }


def test_a_reward_out_of_stock_outside_its_window_or_for_another_tier_is_unavailable(client, db_session, till):
    member = member_with(db_session, 100)
    archived = make_reward(db_session, points_cost=10)
    client.patch(f"/api/v1/rewards/{archived.id}", json={"status": "archived"}, headers=till["admin"])
    for why, reward in [*unavailable_rewards(db_session).items(), ("archived", archived)]:
        response = redeem(till, member, reward, key=why)
        assert response.status_code == 422, (why, response.json)
        assert response.json["reason"] == "reward_unavailable", why
    assert count(db_session, Redemption) == 0 and balance(client, till, member)["available"] == 100


def test_a_member_of_the_rewards_tier_may_redeem_it(client, db_session, till):
    member = member_with(db_session, 100)
    member.tier_code = "gold"
    db_session.commit()
    assert redeem(till, member, make_reward(db_session, points_cost=10, min_tier="gold")).status_code == 201


def test_a_member_redeems_a_reward_up_to_its_limit_and_a_cancelled_one_does_not_count(client, db_session, till):
    member = member_with(db_session, 1000)
    reward = make_reward(db_session, points_cost=10, per_member_limit=2)
    first = redeem(till, member, reward, key="a").json
    assert redeem(till, member, reward, key="b").status_code == 201
    third = redeem(till, member, reward, key="c")
    assert third.status_code == 422 and third.json["reason"] == "reward_unavailable"
    assert client.post(f"/api/v1/redemptions/{first['id']}/cancel", headers=till["admin"]).status_code == 200
    assert redeem(till, member, reward, key="d").status_code == 201
    # Another member has a limit of their own.
    assert redeem(till, member_with(db_session, 10), reward, key="a").status_code == 201


def test_a_terminal_redeems_its_merchants_rewards_and_the_operators_but_no_other(client, db_session, till):
    member = member_with(db_session, 100)
    own = make_reward(db_session, points_cost=10, merchant_id=till["merchant"].id)
    other_merchant, _store, _send = another_till(client, db_session)
    foreign = make_reward(db_session, points_cost=10, merchant_id=other_merchant.id)
    assert redeem(till, member, own, key="own").status_code == 201
    refused = redeem(till, member, foreign, key="foreign")
    assert refused.status_code == 404 and refused.json["reason"] == "not_found"
    assert redeem(till, member, make_reward(db_session, points_cost=10), key="operator").status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"member_id": "mbr_nobody"}, 404, "member_not_found"),
        ({"reward_id": "rwd_nothing"}, 404, "not_found"),
        ({"idempotency_key": ""}, 422, "validation_error"),
        ({"idempotency_key": "k" * 101}, 422, "validation_error"),
        ({"idempotency_key": None}, 422, "validation_error"),
        ({"points": 100}, 422, "validation_error"),  # both a reward and points
        ({"store_id": "sto_elsewhere"}, 404, "not_found"),  # a terminal redeems at its own store
        ({"extra": 1}, 422, "validation_error"),
    ],
)
def test_bad_redemptions_get_a_clear_error_and_write_nothing(client, db_session, till, change, status, reason):
    member = member_with(db_session, 100)
    reward = make_reward(db_session, points_cost=10)
    response = redeem(till, member, reward, **change)
    assert response.status_code == status, response.json
    assert response.json["reason"] == reason
    assert count(db_session, Redemption) == 0 and count(db_session, LedgerEntry) == 1


def test_a_closed_members_points_cannot_be_redeemed(client, db_session, till):
    member = member_with(db_session, 100)
    assert client.delete(f"/api/v1/members/{member.id}", headers=till["admin"]).status_code == 200
    response = redeem(till, member, make_reward(db_session, points_cost=10))
    assert response.status_code == 409 and count(db_session, Redemption) == 0


def test_a_negative_balance_after_a_return_redeems_nothing(client, db_session, till):
    member = member_with(db_session, 0)
    member.points_balance, member.points_debt = -50, 50  # as a return of spent points leaves it
    db_session.commit()
    response = redeem(till, member, make_reward(db_session, points_cost=1))
    assert response.status_code == 422 and response.json["reason"] == "insufficient_points"


# ---- using a code ----------------------------------------------------------------------------


def test_a_till_uses_a_code_once(client, db_session, till):
    member = member_with(db_session, 100)
    issued = redeem(till, member, make_reward(db_session, points_cost=100)).json
    typed = issued["code"].lower().replace("-", " ")
    used = use(till, typed)
    assert used.status_code == 200, used.json
    assert used.json["status"] == "used" and used.json["used_at"].endswith("Z")
    assert used.json["used_store_id"] == till["store"].id and used.json["used_merchant_id"] == till["merchant"].id
    again = use(till, issued["code"])
    assert again.status_code == 409 and again.json["reason"] == "already_used"
    unknown = use(till, "AAAA-AAAA-AAAA")
    assert unknown.status_code == 404
    # The points stay spent.
    assert balance(client, till, member)["available"] == 0


def test_a_till_that_lost_the_answer_sends_its_use_key_again_and_gets_the_same_answer(client, db_session, till):
    member = member_with(db_session, 100)
    issued = redeem(till, member, make_reward(db_session, points_cost=100)).json
    first = use(till, issued["code"], use_key="U-1")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    retried = use(till, issued["code"], use_key="U-1")
    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json == first.json
    # Any other second use is still refused: another key, no key, another merchant's till.
    assert use(till, issued["code"], use_key="U-2").json["reason"] == "already_used"
    assert use(till, issued["code"]).json["reason"] == "already_used"
    _merchant, _store, elsewhere = another_till(client, db_session)
    assert elsewhere("POST", "/api/v1/redemptions/use", {"code": issued["code"], "use_key": "U-1"}).status_code == 409
    stored = db_session.scalar(select(Redemption).where(Redemption.id == issued["id"]))
    db_session.refresh(stored)
    assert stored.used_key == "U-1" and stored.used_at.isoformat()[:19] == first.json["used_at"][:19]


def test_a_merchants_reward_is_used_only_at_its_stores_an_operator_reward_anywhere(client, db_session, till):
    member = member_with(db_session, 100)
    own = redeem(till, member, make_reward(db_session, points_cost=10, merchant_id=till["merchant"].id), key="a").json
    operator = redeem(till, member, make_reward(db_session, points_cost=10), key="b").json
    other_merchant, _store, send = another_till(client, db_session)
    elsewhere = send("POST", "/api/v1/redemptions/use", {"code": own["code"]})
    assert elsewhere.status_code == 404 and elsewhere.json["reason"] == "not_found"
    other_key = bearer(make_key(db_session, "merchant", merchant_id=other_merchant.id))
    assert client.post("/api/v1/redemptions/use", json={"code": own["code"]}, headers=other_key).status_code == 404
    assert client.get(f"/api/v1/redemptions/{own['id']}", headers=other_key).status_code == 404
    anywhere = send("POST", "/api/v1/redemptions/use", {"code": operator["code"]})
    assert anywhere.status_code == 200 and anywhere.json["used_merchant_id"] == other_merchant.id
    # Once used there, that merchant reads it.
    assert client.get(f"/api/v1/redemptions/{operator['id']}", headers=other_key).status_code == 200
    own_key = bearer(make_key(db_session, "merchant", merchant_id=till["merchant"].id))
    by_merchant = client.post(
        "/api/v1/redemptions/use", json={"code": own["code"], "store_id": till["store"].id}, headers=own_key
    )
    assert by_merchant.status_code == 200 and by_merchant.json["used_store_id"] == till["store"].id


def test_a_cancelled_or_expired_code_cannot_be_used(client, db_session, till):
    member = member_with(db_session, 100)
    cancelled = redeem(till, member, make_reward(db_session, points_cost=10), key="a").json
    client.post(f"/api/v1/redemptions/{cancelled['id']}/cancel", headers=till["admin"])
    refused = use(till, cancelled["code"])
    assert refused.status_code == 409 and refused.json["reason"] == "redemption_cancelled"
    expired = redeem(till, member, make_reward(db_session, points_cost=10), key="b").json
    db_session.get(Redemption, expired["id"]).expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    late = use(till, expired["code"])
    assert late.status_code == 409 and late.json["reason"] == "redemption_expired"
    assert db_session.get(Redemption, expired["id"]).status == "issued"


def test_a_code_without_a_body_or_of_the_wrong_shape_is_a_422(client, db_session, till):
    assert till["send"]("POST", "/api/v1/redemptions/use", {}).status_code == 422
    assert till["send"]("POST", "/api/v1/redemptions/use", {"code": 123}).status_code == 422
    assert till["send"]("POST", "/api/v1/redemptions/use", {"code": "x" * 33}).status_code == 422


# ---- cancelling ------------------------------------------------------------------------------


def test_cancelling_gives_the_points_back_at_once_frees_the_stock_and_is_audited(client, db_session, till):
    member = member_with(db_session, 100)
    reward = make_reward(db_session, points_cost=60, stock=1)
    issued = redeem(till, member, reward).json
    assert db_session.get(Reward, reward.id).issued == 1
    cancelled = client.post(f"/api/v1/redemptions/{issued['id']}/cancel", headers=till["admin"])
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancelled_at"].endswith("Z")
    assert cancelled.json["balance"] == {"available": 100, "pending": 0}
    db_session.expire_all()
    assert db_session.get(Reward, reward.id).issued == 0
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.object_id == issued["id"]))
    assert event.action == "redemption.cancel" and event.data["points"] == 60
    # Again: nothing more comes back.
    again = client.post(f"/api/v1/redemptions/{issued['id']}/cancel", headers=till["admin"])
    assert again.status_code == 200 and again.json["balance"]["available"] == 100
    kinds = db_session.scalars(select(LedgerEntry.kind).where(LedgerEntry.member_id == member.id)).all()
    assert sorted(kinds) == ["adjust", "redeem", "redeem_cancel"]
    # The stock freed is there for the next member.
    assert redeem(till, member_with(db_session, 60), reward, key="next").status_code == 201
    assert_ledger_consistent(db_session, member.id)


def test_cancelled_points_keep_the_earliest_expiry_of_the_points_spent(client, db_session, till):
    member = make_member(db_session)
    soon, later = utcnow() + timedelta(days=10), utcnow() + timedelta(days=400)
    give_points(db_session, member, 40, expires_at=later)
    give_points(db_session, member, 30, expires_at=soon)
    give_points(db_session, member, 30)  # never expires
    issued = redeem(till, member, make_reward(db_session, points_cost=50)).json
    stored = client.get(f"/api/v1/redemptions/{issued['id']}", headers=till["admin"]).json
    assert stored["points_expire_at"] is not None
    client.post(f"/api/v1/redemptions/{issued['id']}/cancel", headers=till["admin"])
    back = db_session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "redeem_cancel"))
    assert back.points == 50 and back.expires_at == soon
    assert back.available_at <= utcnow()
    assert_ledger_consistent(db_session, member.id)


def test_a_used_code_or_a_payment_cannot_be_cancelled(client, db_session, till):
    member = member_with(db_session, 200)
    issued = redeem(till, member, make_reward(db_session, points_cost=10), key="a").json
    use(till, issued["code"])
    used = client.post(f"/api/v1/redemptions/{issued['id']}/cancel", headers=till["admin"])
    assert used.status_code == 409 and used.json["reason"] == "already_used"
    paid = till["send"]("POST", "/api/v1/redemptions", {"member_id": member.id, "points": 100, "idempotency_key": "p"})
    refused = client.post(f"/api/v1/redemptions/{paid.json['id']}/cancel", headers=till["admin"])
    assert refused.status_code == 409 and refused.json["reason"] == "invalid_state"
    assert balance(client, till, member)["available"] == 90
    assert client.post("/api/v1/redemptions/rdm_nothing/cancel", headers=till["admin"]).status_code == 404


# ---- points as payment -----------------------------------------------------------------------


def pay(till, member, points, key="P-1"):
    return till["send"](
        "POST", "/api/v1/redemptions", {"member_id": member.id, "points": points, "idempotency_key": key}
    )


def test_points_pay_at_the_programs_rate_and_the_till_is_recorded(client, db_session, till):
    member = member_with(db_session, 1000)
    paid = pay(till, member, 250)
    assert paid.status_code == 201, paid.json
    body = paid.json
    assert (body["value_minor"], body["currency"], body["points"]) == (250, "EUR", 250)
    assert body["balance"] == {"available": 750, "pending": 0}
    stored = db_session.get(Redemption, body["id"])
    assert (stored.kind, stored.status, stored.code) == ("payment", "completed", None)
    assert (stored.merchant_id, stored.store_id) == (till["merchant"].id, till["store"].id)
    entry = db_session.scalar(select(LedgerEntry).where(LedgerEntry.redemption_id == body["id"]))
    assert (entry.kind, entry.points, entry.store_id) == ("redeem", -250, till["store"].id)
    replay = pay(till, member, 250)
    assert replay.status_code == 200 and replay.data == paid.data
    # A payment has no code to show.
    assert client.get(f"/api/v1/redemptions/{body['id']}/qr.svg", headers=till["admin"]).status_code == 404


def test_a_payment_rounds_down_and_points_worth_less_than_a_minor_unit_are_refused(client, db_session, till):
    client.patch("/api/v1/program", json={"redemption_rate": {"points": 100, "value_minor": 1}}, headers=till["admin"])
    member = member_with(db_session, 1000)
    paid = pay(till, member, 250, key="a")
    assert paid.status_code == 201 and paid.json["value_minor"] == 2
    assert paid.json["balance"]["available"] == 750  # every point sent is taken
    small = pay(till, member, 99, key="b")
    assert small.status_code == 422 and small.json["errors"] == {"points": ["At least 100."]}
    assert balance(client, till, member)["available"] == 750


@pytest.mark.parametrize("points", [0, -100, 1.5, "100", None, True, 10**13])
def test_points_must_be_a_positive_whole_number(client, db_session, till, points):
    member = member_with(db_session, 1000)
    response = pay(till, member, points)
    assert response.status_code == 422 and response.json["reason"] == "validation_error"
    assert count(db_session, Redemption) == 0


def test_paying_more_points_than_available_is_refused(client, db_session, till):
    member = member_with(db_session, 100)
    response = pay(till, member, 101)
    assert response.status_code == 422 and response.json["reason"] == "insufficient_points"
    assert count(db_session, Redemption) == 0


def test_neither_a_reward_nor_points_is_a_422(client, db_session, till):
    member = member_with(db_session, 100)
    response = till["send"]("POST", "/api/v1/redemptions", {"member_id": member.id, "idempotency_key": "x"})
    assert response.status_code == 422 and "reward_id" in response.json["errors"]


def test_an_admin_pays_naming_a_store_or_none(client, db_session, till):
    member = member_with(db_session, 100)
    body = {"member_id": member.id, "points": 10, "idempotency_key": "a", "store_id": till["store"].id}
    named = client.post("/api/v1/redemptions", json=body, headers=till["admin"])
    assert named.status_code == 201
    assert db_session.get(Redemption, named.json["id"]).merchant_id == till["merchant"].id
    body = {"member_id": member.id, "points": 10, "idempotency_key": "b"}
    unnamed = client.post("/api/v1/redemptions", json=body, headers=till["admin"])
    assert unnamed.status_code == 201 and db_session.get(Redemption, unnamed.json["id"]).store_id is None


# ---- reading ---------------------------------------------------------------------------------


def test_a_members_redemptions_are_listed_newest_first(client, db_session, till):
    member = member_with(db_session, 1000)
    reward = redeem(till, member, make_reward(db_session, points_cost=10), key="a").json
    payment = pay(till, member, 100, key="b").json
    path = f"/api/v1/members/{member.id}/redemptions"
    listed = client.get(path, headers=till["admin"]).json
    assert [item["id"] for item in listed["items"]] == [payment["id"], reward["id"]]
    assert [i["id"] for i in client.get(f"{path}?kind=reward", headers=till["admin"]).json["items"]] == [reward["id"]]
    status = client.get(f"{path}?status=completed", headers=till["admin"]).json["items"]
    assert [i["id"] for i in status] == [payment["id"]]
    assert client.get("/api/v1/members/mbr_nobody/redemptions", headers=till["admin"]).status_code == 404


def test_a_reward_for_a_tier_is_for_that_tier_and_the_ones_above(client, db_session, till):
    from loyalty.actors import cli_actor
    from loyalty.tiers.services import replace_tiers

    replace_tiers(
        db_session,
        tiers=[
            {"code": "silver", "name": "Silver", "rank": 1, "qualifying_points": 0, "benefits": {}},
            {"code": "gold", "name": "Gold", "rank": 2, "qualifying_points": 1000, "benefits": {}},
            {"code": "platinum", "name": "Platinum", "rank": 3, "qualifying_points": 5000, "benefits": {}},
        ],
        actor=cli_actor(),
    )
    db_session.commit()
    reward = make_reward(db_session, points_cost=10, min_tier="gold")
    outcomes = {}
    for tier in ("silver", "gold", "platinum"):
        member = member_with(db_session, 100)
        member.tier_code = tier
        db_session.commit()
        outcomes[tier] = redeem(till, member, reward, key=f"tier-{tier}").status_code
    assert outcomes == {"silver": 422, "gold": 201, "platinum": 201}


def test_a_suspended_partners_reward_cannot_be_redeemed_and_nothing_changes(client, db_session, till):
    member = member_with(db_session, 100)
    other_merchant, store, _send = another_till(client, db_session)
    offered = make_reward(db_session, points_cost=10, merchant_id=other_merchant.id)
    suspended = client.patch(
        f"/api/v1/merchants/{other_merchant.id}", json={"status": "suspended"}, headers=till["admin"]
    )
    assert suspended.status_code == 200, suspended.json
    refused = client.post(
        "/api/v1/redemptions",
        json={"member_id": member.id, "reward_id": offered.id, "idempotency_key": "S-1", "store_id": store.id},
        headers=till["admin"],
    )
    assert refused.status_code == 422 and refused.json["reason"] == "reward_unavailable"
    assert "suspended" in refused.json["message"]
    assert balance(client, till, member)["available"] == 100
    assert count(db_session, Redemption) == 0
    reactivated = client.patch(
        f"/api/v1/merchants/{other_merchant.id}", json={"status": "active"}, headers=till["admin"]
    )
    assert reactivated.status_code == 200
    again = client.post(
        "/api/v1/redemptions",
        json={"member_id": member.id, "reward_id": offered.id, "idempotency_key": "S-2", "store_id": store.id},
        headers=till["admin"],
    )
    assert again.status_code == 201, again.json
