"""Marketers keep the tier ladder and the rewards catalog in the console."""

from __future__ import annotations

from sqlalchemy import select

from loyalty.audit.models import AuditEvent
from loyalty.members.models import Member
from loyalty.rewards.models import Reward
from loyalty.tiers.models import Tier
from tests.factories_members import make_member
from tests.factories_rewards import make_reward
from tests.factories_staff import make_staff, post_form, sign_in
from tests.factories_tiers import set_tiers


def _ladder(session) -> list[tuple[str, int, int]]:
    session.expire_all()
    return [(t.code, t.rank, t.qualifying_points) for t in session.scalars(select(Tier).order_by(Tier.rank))]


def test_a_marketer_adds_a_tier_edits_one_and_removes_another_in_one_save(client, db_session):
    set_tiers(db_session)  # blue 0, silver 1000, gold 5000
    member = make_member(db_session)
    member.tier_code = "gold"
    member_id = member.id
    db_session.commit()
    sign_in(client, make_staff(db_session, "marketer").email)
    page = client.get("/console/tiers").get_data(as_text=True)
    assert 'value="silver"' in page and 'value="gold"' in page

    rows = {
        "rows": "5",
        "tier-0-code": "blue", "tier-0-name": "Blue", "tier-0-rank": "0", "tier-0-qualifying_points": "0",
        "tier-1-code": "silver", "tier-1-name": "Silver", "tier-1-rank": "10", "tier-1-qualifying_points": "1500",
        "tier-1-benefits": '{"bonus_percent": 15}',
        "tier-2-code": "gold", "tier-2-name": "Gold", "tier-2-rank": "20", "tier-2-qualifying_points": "5000",
        "tier-2-remove": "1",
        "tier-3-code": "platinum", "tier-3-name": "Platinum", "tier-3-rank": "30",
        "tier-3-qualifying_points": "9000",
    }  # fmt: skip
    saved = post_form(client, "/console/tiers", rows, page="/console/tiers")
    assert saved.status_code == 303
    assert _ladder(db_session) == [("blue", 0, 0), ("silver", 10, 1500), ("platinum", 30, 9000)]
    assert db_session.get(Tier, "silver").benefits == {"bonus_percent": 15}
    # The holder of the removed tier moves to the highest tier that asks no more of them.
    assert db_session.get(Member, member_id).tier_code == "silver"
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tiers.replace").order_by(AuditEvent.id.desc())
    ).first()
    assert event.actor_kind == "staff" and event.data["moved"] == {"gold": {"to": "silver", "members": 1}}
    assert "The tiers are saved." in client.get(saved.headers["Location"]).get_data(as_text=True)


def test_a_ladder_whose_points_do_not_rise_with_rank_is_refused_next_to_the_row_and_nothing_changes(client, db_session):
    set_tiers(db_session)
    sign_in(client, make_staff(db_session, "marketer").email)
    rows = {
        "rows": "3",
        "tier-0-code": "blue", "tier-0-name": "Blue", "tier-0-rank": "0", "tier-0-qualifying_points": "0",
        "tier-1-code": "silver", "tier-1-name": "Silver", "tier-1-rank": "10", "tier-1-qualifying_points": "1000",
        "tier-2-code": "gold", "tier-2-name": "Gold", "tier-2-rank": "20", "tier-2-qualifying_points": "900",
    }  # fmt: skip
    refused = post_form(client, "/console/tiers", rows, page="/console/tiers")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="error-tier-2-qualifying_points"' in html and "Must be more than 1000" in html
    assert 'value="900"' in html  # what was typed stays in the form
    assert _ladder(db_session) == [("blue", 0, 0), ("silver", 10, 1000), ("gold", 20, 5000)]


def test_benefits_that_are_not_json_are_refused(client, db_session):
    set_tiers(db_session)
    sign_in(client, make_staff(db_session, "admin").email)
    rows = {
        "rows": "1",
        "tier-0-code": "blue", "tier-0-name": "Blue", "tier-0-rank": "0", "tier-0-qualifying_points": "0",
        "tier-0-benefits": "lounge access",
    }  # fmt: skip
    refused = post_form(client, "/console/tiers", rows, page="/console/tiers")
    assert refused.status_code == 422
    assert 'id="error-tier-0-benefits"' in refused.get_data(as_text=True)
    assert len(_ladder(db_session)) == 3


def test_merchant_staff_cannot_change_the_ladder(client, db_session):
    from tests.factories_merchants import make_merchant

    set_tiers(db_session)
    merchant = make_merchant(db_session)
    sign_in(client, make_staff(db_session, "merchant", merchant_id=merchant.id).email)
    assert client.get("/console/tiers").status_code == 403
    assert post_form(client, "/console/tiers", {"rows": "0"}).status_code == 403
    assert len(_ladder(db_session)) == 3


def test_a_marketer_changes_a_rewards_stock_and_limit_then_archives_it_audited(client, db_session):
    set_tiers(db_session)
    reward = make_reward(db_session, name="Tote bag", points_cost=50, stock=10)
    db_session.commit()
    sign_in(client, make_staff(db_session, "marketer").email)
    listing = client.get("/console/rewards").get_data(as_text=True)
    assert f'href="/console/rewards/{reward.id}"' in listing

    form = {
        "name": "Tote bag",
        "description": "Canvas, printed with the program's harbour.",
        "points_cost": "60",
        "stock": "25",
        "per_member_limit": "2",
        "min_tier": "silver",
        "status": "active",
    }
    saved = post_form(client, f"/console/rewards/{reward.id}", form, page=f"/console/rewards/{reward.id}")
    assert saved.status_code == 303
    db_session.expire_all()
    row = db_session.get(Reward, reward.id)
    assert (row.points_cost, row.stock, row.per_member_limit, row.min_tier) == (60, 25, 2, "silver")

    archived = post_form(client, f"/console/rewards/{reward.id}", {**form, "status": "archived"})
    assert archived.status_code == 303
    db_session.expire_all()
    assert db_session.get(Reward, reward.id).status == "archived"
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == reward.id).order_by(AuditEvent.id)
    ).all()
    assert actions.count("reward.update") == 2


def test_a_bad_reward_change_is_refused_next_to_its_field_and_changes_nothing(client, db_session):
    reward = make_reward(db_session, name="Mug", points_cost=80)
    db_session.commit()
    sign_in(client, make_staff(db_session, "marketer").email)
    form = {"name": "", "points_cost": "0", "status": "active"}
    refused = post_form(client, f"/console/rewards/{reward.id}", form, page=f"/console/rewards/{reward.id}")
    assert refused.status_code == 422
    assert 'class="field-error"' in refused.get_data(as_text=True)
    db_session.expire_all()
    assert (db_session.get(Reward, reward.id).name, db_session.get(Reward, reward.id).points_cost) == ("Mug", 80)


def test_an_unknown_reward_is_not_found(client, db_session):
    sign_in(client, make_staff(db_session, "marketer").email)
    assert client.get("/console/rewards/rwd_nothing").status_code == 404
