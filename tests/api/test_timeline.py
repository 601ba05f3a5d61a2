"""GET /members/{id}/timeline: every source merged newest first, pages without gaps or repeats, kinds, roles."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.actors import Actor, Role, cli_actor
from loyalty.analytics.models import LifecycleStageChange
from loyalty.audit.models import AuditEvent
from loyalty.campaigns.models import Campaign, Contact
from loyalty.cases import services as cases
from loyalty.cases.models import ServiceNote
from loyalty.program.services import update_program
from loyalty.purchases.services import claim_purchase
from loyalty.timeline.queries import KINDS
from tests.factories import bearer, make_key
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import buy
from tests.factories_rewards import make_reward, redeem
from tests.factories_tiers import set_tiers

ADMIN = Actor(kind="staff", name="ops@example.com", role=Role.ADMIN)
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def admin(db_session):
    return bearer(make_key(db_session, "admin"))


@pytest.fixture()
def store(db_session, redis_conn):
    update_program(db_session, changes={"pending_days": 0}, actor=cli_actor())
    db_session.commit()
    return make_store(db_session, make_merchant(db_session, name="Cafe Uno").id, name="Rossio")


def timeline(client, headers, member_id, **query):
    response = client.get(f"/api/v1/members/{member_id}/timeline", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def every_page(client, headers, member_id, **query):
    items, cursor, pages = [], None, 0
    while True:
        page = timeline(client, headers, member_id, **query, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_each_source_reads_as_documented(client, db_session, admin, store):
    set_tiers(db_session)
    member = make_member(db_session)
    sale = buy(db_session, store, member=member, total_minor=600_000, occurred_at=T0).receipt  # 6000: gold
    anonymous = buy(db_session, store, total_minor=1000).receipt  # claimed within the window
    claim_purchase(db_session, member_id=member.id, claim_code=anonymous["claim_code"], actor=cli_actor())
    redeem(db_session, member, make_reward(db_session, points_cost=100, name="Free latte"))
    campaign = Campaign(name="Come back soon", created_by="mkt")
    db_session.add(campaign)
    db_session.flush()
    db_session.add_all(
        [
            Contact(member_id=member.id, campaign_id=campaign.id, channel="email", contacted_at=T0 + timedelta(days=1)),
            LifecycleStageChange(
                member_id=member.id, from_stage="prospect", to_stage="first_purchase", changed_at=T0 + timedelta(days=2)
            ),
        ]
    )
    db_session.commit()
    case = cases.open_case(db_session, member_id=member.id, receipt_ref="R-1", points_claimed=20, actor=ADMIN)
    cases.add_note(db_session, case_id=case.id, body="Called the store", actor=ADMIN)
    db_session.commit()

    items = timeline(client, admin, member.id, limit=500)["items"]
    by_kind = {}
    for item in items:
        by_kind.setdefault(item["kind"], []).append(item)
    assert set(by_kind) == set(KINDS)

    (purchase,) = [p for p in by_kind["purchase"] if p["purchase_id"] == sale["id"]]
    assert purchase["title"] == "Purchase at Cafe Uno (Rossio): 6000.00 EUR, 6000 points"
    assert purchase["at"] == "2026-06-01T12:00:00.000Z"
    assert purchase["detail"]["merchant_name"] == "Cafe Uno" and purchase["detail"]["points_awarded"] == 6000
    assert (purchase["merchant_id"], purchase["store_id"]) == (store.merchant_id, store.id)
    assert purchase["id"] == f"purchase:{sale['id']}"

    earn = next(p for p in by_kind["points"] if p["detail"]["entry_kind"] == "earn")
    assert earn["title"].startswith("Earned 6000 points at Cafe Uno (Rossio)")
    assert earn["detail"]["breakdown"] and earn["entry_id"] and earn["purchase_id"] == sale["id"]
    entry_kinds = sorted(p["detail"]["entry_kind"] for p in by_kind["points"])
    assert entry_kinds == ["claim", "earn", "redeem"]

    (tier,) = by_kind["tier_change"]
    assert tier["title"] == "Tier rose from Blue to Gold"
    assert tier["detail"] | {} == {
        "from_tier": "blue",
        "to_tier": "gold",
        "direction": "up",
        "qualifying_points": 6000,
        "at_review": False,
    }
    (claim,) = by_kind["claim"]
    assert claim["purchase_id"] == anonymous["id"] and claim["detail"]["points"] == 10
    (redemption,) = by_kind["redemption"]
    assert redemption["title"] == "Redeemed Free latte for 100 points (issued)"
    (contact,) = by_kind["contact"]
    assert (contact["title"], contact["campaign_id"]) == ("Contacted by email: Come back soon", campaign.id)
    (stage,) = by_kind["stage_change"]
    assert stage["title"] == "Lifecycle stage: prospect → first purchase"
    (case_item,) = by_kind["case"]
    assert case_item["case_id"] == case.id and case_item["detail"]["status"] == "in_progress"
    # The member holds the top tier, so the case is urgent and the classification is the first note.
    staff_note, classified = by_kind["note"]
    assert (staff_note["detail"]["body"], staff_note["case_id"]) == ("Called the store", case.id)
    assert classified["detail"]["body"] == "Classified urgent: the member holds the top tier."

    ats = [item["at"] for item in items]
    assert ats == sorted(ats, reverse=True)


def seed(session, member_id, count: int, rng: random.Random) -> set[str]:
    """``count`` items of four kinds on few distinct instants, so that many share a time within and across kinds."""
    instants = [T0 + timedelta(minutes=rng.randrange(12)) for _ in range(count)]
    made = []
    for i, at in enumerate(instants):
        kind = i % 4
        if kind == 0:
            made.append(
                LifecycleStageChange(member_id=member_id, from_stage="growth", to_stage="maturity", changed_at=at)
            )
        elif kind == 1:
            made.append(Contact(member_id=member_id, channel="sms", contacted_at=at))
        elif kind == 2:
            made.append(
                ServiceNote(member_id=member_id, body=f"note {i}", author_kind="staff", author_name="a", created_at=at)
            )
        else:
            made.append(
                AuditEvent(
                    actor_kind="system",
                    actor_name="system",
                    action="member.tier_rise",
                    object_type="member",
                    object_id=member_id,
                    data={"from": None, "to": "silver"},
                    created_at=at,
                )
            )
    session.add_all(made)
    session.commit()
    names = {LifecycleStageChange: "stage_change", Contact: "contact", ServiceNote: "note", AuditEvent: "tier_change"}
    return {f"{names[type(row)]}:{row.id}" for row in made}


@pytest.mark.parametrize("seed_value", [1, 2, 3])
def test_pages_of_any_size_give_every_item_once_in_one_total_order(client, db_session, admin, store, seed_value):
    rng = random.Random(seed_value)
    member = make_member(db_session)
    expected = seed(db_session, member.id, 60, rng)
    for i in range(6):
        sale = buy(
            db_session,
            store,
            member=member,
            occurred_at=T0 + timedelta(minutes=rng.randrange(12)),
            external_id=f"P-{seed_value}-{i}",
        )
        expected.add(f"purchase:{sale.receipt['id']}")

    whole = timeline(client, admin, member.id, limit=500, kinds="purchase,stage_change,contact,note,tier_change")
    assert whole["next_cursor"] is None
    ids = [item["id"] for item in whole["items"]]
    assert set(ids) == expected and len(ids) == len(expected)
    # The order is by time, then kind, then id, all descending.
    keys = [(item["at"], item["kind"]) for item in whole["items"]]
    assert keys == sorted(keys, reverse=True)

    for limit in (1, 3, 7, 25):
        items, pages = every_page(
            client, admin, member.id, limit=limit, kinds="purchase,stage_change,contact,note,tier_change"
        )
        assert [item["id"] for item in items] == ids, limit
        assert pages == -(-len(ids) // limit)


def test_the_kinds_filter_shows_only_those_kinds_and_a_cursor_works_across_filters(client, db_session, admin, store):
    member = make_member(db_session)
    seed(db_session, member.id, 20, random.Random(7))
    notes = timeline(client, admin, member.id, kinds="note", limit=500)["items"]
    assert notes and {item["kind"] for item in notes} == {"note"}
    both = timeline(client, admin, member.id, kinds="note, contact", limit=500)["items"]
    assert {item["kind"] for item in both} == {"note", "contact"}

    whole = [item["id"] for item in timeline(client, admin, member.id, limit=500)["items"]]
    first = timeline(client, admin, member.id, limit=4)
    after = timeline(client, admin, member.id, kinds="note", limit=500, cursor=first["next_cursor"])["items"]
    assert [item["id"] for item in after] == [i for i in whole[4:] if i.startswith("note:")]

    bad = client.get(f"/api/v1/members/{member.id}/timeline?kinds=note,gossip", headers=admin)
    assert bad.status_code == 422 and bad.json["reason"] == "validation_error"
    forged = client.get(f"/api/v1/members/{member.id}/timeline?cursor=eyJhIjoxfQ", headers=admin)
    assert forged.status_code == 422


def test_only_the_operators_keys_read_a_timeline_and_an_unknown_member_is_not_found(client, db_session, admin, store):
    member = make_member(db_session)
    buy(db_session, store, member=member)
    marketer = bearer(make_key(db_session, "marketer"))
    merchant = bearer(make_key(db_session, "merchant", merchant_id=store.merchant_id))
    assert timeline(client, marketer, member.id)["items"]
    refused = client.get(f"/api/v1/members/{member.id}/timeline", headers=merchant)
    assert refused.status_code == 403 and refused.json["reason"] == "forbidden"
    missing = client.get("/api/v1/members/mbr_nobody/timeline", headers=admin)
    assert missing.status_code == 404 and missing.json["reason"] == "not_found"
    # Another member's items never show.
    other = make_member(db_session)
    assert timeline(client, admin, other.id)["items"] == []
