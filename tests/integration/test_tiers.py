"""Tiers on the real database: qualifying points, rising at once on a purchase or claim, the tier list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from loyalty.actors import cli_actor
from loyalty.audit.models import AuditEvent
from loyalty.errors import ValidationFailed
from loyalty.ledger.models import LedgerEntry
from loyalty.members.models import Member
from loyalty.program.services import update_program
from loyalty.purchases.returns import return_purchase
from loyalty.purchases.services import claim_purchase
from loyalty.tiers import services as tiers
from tests.factories_members import make_member
from tests.factories_merchants import make_merchant, make_store
from tests.factories_purchases import BASE_RULE, buy, ruleset
from tests.factories_tiers import give_points, ladder, set_tiers


@pytest.fixture()
def store(db_session, redis_conn):
    update_program(db_session, changes={"pending_days": 0}, actor=cli_actor())
    db_session.commit()
    return make_store(db_session, make_merchant(db_session).id)


def member_row(session, member_id: str) -> Member:
    session.expire_all()
    return session.get(Member, member_id)


def test_a_new_member_holds_the_lowest_tier_when_it_needs_no_points(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    assert member_row(db_session, member.id).tier_code == "blue"
    assert tiers.standing(db_session, member).as_dict() == {
        "code": "blue",
        "name": "Blue",
        "progress": {"qualifying_points": 0, "next_tier": "silver", "points_to_next": 1000, "points_to_keep": 0},
        "at_risk_until": None,
    }


def test_when_the_lowest_tier_needs_points_a_new_member_holds_none_and_sees_how_far_it_is(db_session, store):
    set_tiers(db_session, ladder(base=100))
    member = make_member(db_session)
    assert member_row(db_session, member.id).tier_code is None
    standing = tiers.standing(db_session, member).as_dict()
    assert standing["code"] is None and standing["name"] is None
    progress = {"qualifying_points": 0, "next_tier": "blue", "points_to_next": 100, "points_to_keep": 0}
    assert standing["progress"] == progress


def test_without_tiers_there_is_no_standing(db_session, store):
    member = make_member(db_session)
    assert tiers.standing(db_session, member) is None
    assert buy(db_session, store, member=member).receipt["tier"] is None


def test_qualifying_points_are_earned_and_claimed_less_returned_over_the_rolling_window(db_session, store):
    update_program(db_session, changes={"qualification_window_months": 12}, actor=cli_actor())
    member = make_member(db_session)
    give_points(db_session, member.id, 700)  # earn
    give_points(db_session, member.id, 300, kind="claim")
    give_points(db_session, member.id, -150, kind="return")
    give_points(db_session, member.id, 400, kind="adjust")  # a manual adjustment does not qualify
    give_points(db_session, member.id, -200, kind="redeem")  # spending does not lower them
    old = give_points(db_session, member.id, 5000)
    assert tiers.qualifying_points(db_session, member.id) == 700 + 300 - 150 + 5000

    # Thirteen months on, the old lot has left the window.
    db_session.execute(
        update(LedgerEntry).where(LedgerEntry.id == old.id).values(created_at=datetime.now(UTC) - timedelta(days=400))
    )
    assert tiers.qualifying_points(db_session, member.id) == 850
    # And a year from now, everything has.
    assert tiers.qualifying_points(db_session, member.id, now=datetime.now(UTC) + timedelta(days=370)) == 0


def test_returns_beyond_what_was_earned_in_the_window_count_as_no_qualifying_points(db_session, store):
    member = make_member(db_session)
    give_points(db_session, member.id, -80, kind="return")
    assert tiers.qualifying_points(db_session, member.id) == 0


def test_the_purchase_that_qualifies_raises_the_member_at_once_and_the_receipt_shows_it(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    first = buy(db_session, store, member=member, total_minor=60000).receipt  # 600 points
    assert first["tier"]["code"] == "blue"
    assert first["tier"]["progress"] == {
        "qualifying_points": 600,
        "next_tier": "silver",
        "points_to_next": 400,
        "points_to_keep": 0,
    }
    second = buy(db_session, store, member=member, total_minor=40000).receipt  # 400 more: exactly Silver
    assert second["tier"] == {
        "code": "silver",
        "name": "Silver",
        "progress": {"qualifying_points": 1000, "next_tier": "gold", "points_to_next": 4000, "points_to_keep": 0},
        "at_risk_until": None,
    }
    assert member_row(db_session, member.id).tier_code == "silver"
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "member.tier_rise")).all()
    assert (event.object_id, event.data["from"], event.data["to"]) == (member.id, "blue", "silver")


def test_a_purchase_can_raise_a_member_several_tiers_at_once(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=550000).receipt  # 5500 points
    assert receipt["tier"]["code"] == "gold"
    assert receipt["tier"]["progress"]["next_tier"] is None and receipt["tier"]["progress"]["points_to_next"] is None


def test_a_return_lowers_qualifying_points_but_never_the_tier(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    receipt = buy(db_session, store, member=member, total_minor=120000).receipt  # 1200 points: Silver
    assert receipt["tier"]["code"] == "silver"
    return_purchase(
        db_session,
        purchase_id=receipt["id"],
        external_id="RET-1",
        items=None,
        amount_minor=60000,
        fingerprint="RET-1",
        actor=cli_actor(),
    )
    db_session.commit()
    member = member_row(db_session, member.id)
    assert member.tier_code == "silver"  # a fall waits for the review and its grace period
    standing = tiers.standing(db_session, member).as_dict()
    assert standing["code"] == "silver"
    assert standing["progress"]["qualifying_points"] == 600
    assert standing["progress"]["points_to_keep"] == 400


def test_a_later_smaller_purchase_never_lowers_a_member(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    db_session.execute(update(Member).where(Member.id == member.id).values(tier_code="gold"))
    db_session.commit()
    receipt = buy(db_session, store, member=member, total_minor=1000).receipt
    assert receipt["tier"]["code"] == "gold"
    assert receipt["tier"]["progress"]["points_to_keep"] == 5000 - 10


def test_claiming_an_anonymous_purchase_raises_the_member(db_session, store):
    set_tiers(db_session)
    code = buy(db_session, store, total_minor=100000).receipt["claim_code"]
    member = make_member(db_session)
    claimed = claim_purchase(db_session, member_id=member.id, claim_code=code, actor=cli_actor())
    db_session.commit()
    assert claimed["tier"]["code"] == "silver"
    assert member_row(db_session, member.id).tier_code == "silver"


def test_an_at_risk_member_who_qualifies_again_on_a_purchase_is_no_longer_at_risk(db_session, store):
    set_tiers(db_session)
    member = make_member(db_session)
    since = datetime.now(UTC) - timedelta(days=3)
    db_session.execute(
        update(Member)
        .where(Member.id == member.id)
        .values(tier_code="silver", tier_at_risk_since=since, tier_grace_until=since + timedelta(days=30))
    )
    db_session.commit()
    assert tiers.standing(db_session, member_row(db_session, member.id)).as_dict()["at_risk_until"] is not None
    buy(db_session, store, member=member, total_minor=50000)  # 500: not enough
    assert member_row(db_session, member.id).tier_grace_until is not None
    receipt = buy(db_session, store, member=member, total_minor=50000).receipt  # 1000: Silver again
    member = member_row(db_session, member.id)
    assert (member.tier_code, member.tier_at_risk_since, member.tier_grace_until) == ("silver", None, None)
    assert receipt["tier"]["at_risk_until"] is None


def test_earning_rules_read_the_tier_code_as_member_tier(db_session, store):
    set_tiers(db_session)
    rules = ruleset(
        BASE_RULE,
        {
            "id": "rul_silver",
            "name": "Silver bonus",
            "priority": 10,
            "condition": 'member.tier == "silver"',
            "effect": {"type": "bonus", "points": 50},
        },
    )
    member = make_member(db_session)
    # The purchase that qualifies is scored at the tier held before it; the next at the new one.
    qualifying = buy(db_session, store, member=member, rules=rules, total_minor=100000).receipt
    assert qualifying["points_awarded"] == 1000 and qualifying["tier"]["code"] == "silver"
    after = buy(db_session, store, member=member, rules=rules, total_minor=1000).receipt
    assert after["points_awarded"] == 10 + 50 and after["breakdown"][0]["rule_name"] == "Silver bonus"


@pytest.mark.parametrize(
    ("points", "code", "next_tier", "points_to_next", "points_to_keep"),
    [
        (0, "blue", "silver", 1000, 0),
        (999, "blue", "silver", 1, 0),
        (1000, "silver", "gold", 4000, 0),
        (4999, "silver", "gold", 1, 0),
        (5000, "gold", None, None, 0),
        (120000, "gold", None, None, 0),
    ],
)
def test_progress_shows_the_next_tier_and_the_points_still_needed(
    db_session, store, points, code, next_tier, points_to_next, points_to_keep
):
    set_tiers(db_session)
    member = make_member(db_session)
    if points:
        give_points(db_session, member.id, points)
    standing = tiers.apply_tier_rise(db_session, member_row(db_session, member.id))
    assert standing.as_dict()["code"] == code
    assert standing.as_dict()["progress"] == {
        "qualifying_points": points,
        "next_tier": next_tier,
        "points_to_next": points_to_next,
        "points_to_keep": points_to_keep,
    }


def test_replacing_the_list_moves_holders_of_a_removed_tier_to_the_highest_one_that_asks_no_more(db_session, store):
    set_tiers(db_session)
    silver = make_member(db_session)
    gold = make_member(db_session)
    for member, code in ((silver, "silver"), (gold, "gold")):
        db_session.execute(update(Member).where(Member.id == member.id).values(tier_code=code))
    db_session.commit()

    # Silver is renamed at the same threshold; Gold is dropped.
    renamed = ladder()[:2]
    renamed[1] |= {"code": "argent", "name": "Argent"}
    set_tiers(db_session, renamed)
    assert member_row(db_session, silver.id).tier_code == "argent"
    assert member_row(db_session, gold.id).tier_code == "argent"

    set_tiers(db_session, [])
    assert member_row(db_session, silver.id).tier_code is None
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tiers.replace").order_by(AuditEvent.id)
    ).all()
    assert [len(e.data["new"]) for e in events] == [3, 2, 0]
    assert events[1].data["old"] == ladder() and events[1].data["new"] == renamed
    assert events[1].data["moved"] == {
        "silver": {"to": "argent", "members": 1},
        "gold": {"to": "argent", "members": 1},
    }


def test_the_same_list_again_changes_and_audits_nothing(db_session, store):
    set_tiers(db_session)
    set_tiers(db_session, list(reversed(ladder())))
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "tiers.replace")).all()) == 1


def test_a_bad_list_names_every_tier_at_fault_and_changes_nothing(db_session, store):
    set_tiers(db_session)
    bad = ladder()
    bad[1]["rank"] = 0  # Blue's
    bad[2]["code"] = "Gold Plus"
    with pytest.raises(ValidationFailed) as caught:
        tiers.replace_tiers(db_session, tiers=bad, actor=cli_actor())
    assert set(caught.value.errors) == {"2"}  # shape first: the bad code
    bad[2]["code"] = "gold"
    with pytest.raises(ValidationFailed) as caught:
        tiers.replace_tiers(db_session, tiers=bad, actor=cli_actor())
    assert caught.value.errors == {"1": {"rank": ["Tier 0 has this rank too."]}}
    db_session.rollback()
    assert [t.as_dict() for t in tiers.list_tiers(db_session)] == ladder()
