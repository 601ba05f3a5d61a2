"""Rewards: the catalog (what the member can afford first), redeeming with a confirmation, codes, history."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from loyalty.accounts import selfservice
from loyalty.accounts.statement import points_summary, reward_names
from loyalty.actors import PUBLIC
from loyalty.errors import LoyaltyError, NotFound, ValidationFailed
from loyalty.ledger.services import balance
from loyalty.qr import qr_svg
from loyalty.rewards import services as rewards
from loyalty.rewards.models import Reward
from loyalty.tiers.services import list_tiers
from member_portal import bp
from member_portal.auth import current_member, member_required, request_id
from member_portal.forms import RedeemForm
from member_portal.problems import describe
from member_portal.views.pages import inline_qr
from web.extensions import db

CATALOG_LIMIT = 1000  # offered rewards shown at most; a catalog is tens or hundreds
HISTORY_PAGE = 20


@dataclass(frozen=True)
class Offer:
    reward: Reward
    missing: int  # points short of it now; 0 when affordable
    for_tier: str | None  # the tier it needs, when the member's is lower


def _catalog(member, available: int) -> list[Offer]:
    """Every reward offered now, those the member can take first (cheapest first), then by points missing."""
    found: list[Reward] = []
    cursor = None
    while len(found) < CATALOG_LIMIT:
        page = rewards.list_rewards(db.session, actor=PUBLIC, limit=500, cursor=cursor, available=True)
        found += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    tiers = list_tiers(db.session)
    ranks = {tier.code: tier.rank for tier in tiers}
    names = {tier.code: tier.name for tier in tiers}
    offers = []
    for reward in found:
        eligible = rewards.meets_min_tier(reward, member.tier_code, ranks)
        offers.append(
            Offer(
                reward=reward,
                missing=max(reward.points_cost - max(available, 0), 0),
                for_tier=None if eligible else names.get(reward.min_tier, reward.min_tier),
            )
        )
    offers.sort(key=lambda o: (o.for_tier is not None, o.missing > 0, o.missing, o.reward.points_cost, o.reward.name))
    return offers


def _reward_or_404(reward_id: str) -> Reward:
    try:
        reward = rewards.get_reward(db.session, reward_id, actor=PUBLIC)
    except NotFound:
        abort(404)
    if rewards.unavailable_because(reward) is not None:
        abort(404)
    return reward


@bp.get("/rewards")
@member_required
def rewards_page():
    member = current_member()
    available = balance(db.session, member).available
    codes = rewards.list_member_redemptions(
        db.session, member_id=member.id, limit=50, cursor=None, kind=rewards.REWARD, status=rewards.ISSUED
    )
    return render_template(
        "portal/rewards.html",
        available=available,
        offers=_catalog(member, available),
        codes=codes.items,
        reward_names=_reward_names(codes.items),
    )


@bp.get("/rewards/<reward_id>")
@member_required
def reward_confirm(reward_id: str):
    member = current_member()
    reward = _reward_or_404(reward_id)
    summary = points_summary(db.session, member)
    # A key of this form: sending it twice (a double click, a retry) redeems once.
    form = RedeemForm(form_key=secrets.token_urlsafe(24))
    return render_template("portal/reward_confirm.html", reward=reward, summary=summary, form=form)


@bp.post("/rewards/<reward_id>/redeem")
@member_required
def redeem(reward_id: str):
    member = current_member()
    reward = _reward_or_404(reward_id)
    form = RedeemForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        receipt = selfservice.redeem(
            db.session, member_id=member.id, reward_id=reward.id, form_key=form.form_key.data, request_id=request_id()
        )
    except LoyaltyError as error:
        db.session.rollback()
        flash(describe(error), "error")
        return redirect(url_for("portal.reward_confirm", reward_id=reward.id))
    db.session.commit()
    flash(_("Done! Show this code at the till to get your reward."), "success")
    return redirect(url_for("portal.redemption", redemption_id=receipt["id"]))


@bp.get("/redemptions")
@member_required
def redemptions():
    member = current_member()
    cursor = request.args.get("cursor") or None
    try:
        page = rewards.list_member_redemptions(db.session, member_id=member.id, limit=HISTORY_PAGE, cursor=cursor)
    except ValidationFailed:
        cursor = None
        page = rewards.list_member_redemptions(db.session, member_id=member.id, limit=HISTORY_PAGE, cursor=None)
    return render_template(
        "portal/redemptions.html",
        redemptions=page.items,
        reward_names=_reward_names(page.items),
        next_cursor=page.next_cursor,
        first_page=cursor is None,
    )


@bp.get("/redemptions/<redemption_id>")
@member_required
def redemption(redemption_id: str):
    member = current_member()
    found = selfservice.own_redemption(db.session, member_id=member.id, redemption_id=redemption_id)
    qr = inline_qr(qr_svg(found.code), found.code) if found.code and found.status == rewards.ISSUED else None
    return render_template(
        "portal/redemption.html", redemption=found, reward_name=_reward_names([found]).get(found.reward_id), qr=qr
    )


@bp.post("/redemptions/<redemption_id>/cancel")
@member_required
def cancel_redemption(redemption_id: str):
    member = current_member()
    try:
        found = selfservice.cancel(
            db.session, member_id=member.id, redemption_id=redemption_id, request_id=request_id()
        )
    except NotFound:
        raise  # another member's, or none: the 404 page
    except LoyaltyError as error:
        db.session.rollback()
        flash(describe(error), "error")
        return redirect(url_for("portal.redemption", redemption_id=redemption_id))
    db.session.commit()
    if found.granted_by_campaign_id:
        flash(_("Cancelled"), "success")  # a gift: its points were the campaign's, none come back
    else:
        flash(_("Cancelled: the %(points)s points are back in your balance.", points=found.points), "success")
    return redirect(url_for("portal.redemption", redemption_id=redemption_id))


def _reward_names(items) -> dict[str, str]:
    return reward_names(db.session, {item.reward_id for item in items if item.reward_id})
