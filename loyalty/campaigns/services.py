"""Campaigns: define them as drafts, launch (now or on schedule), cancel; every change audited.

The work of a launch runs in the background (``loyalty.campaigns.jobs``): the
audience is selected in one statement, then treatment members are given the
offer and messaged in batches. Results are in ``loyalty.campaigns.results``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.campaigns.audience import check_audience
from loyalty.campaigns.models import CHANNELS, Campaign
from loyalty.contacts import LOCALES
from loyalty.db import isoformat_z, utcnow
from loyalty.earning import services as earning
from loyalty.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from loyalty.outbox.services import add_task
from loyalty.pagination import Page, paginate
from loyalty.rewards import services as rewards
from loyalty.text import has_control_characters, usable_id

DRAFT, SCHEDULED, RUNNING, COMPLETED, CANCELLED = "draft", "scheduled", "running", "completed", "cancelled"
OFFER_TYPES = ("rule", "bonus", "reward")
WRITERS = (Role.ADMIN, Role.MARKETER)
FIELDS = (
    "name",
    "description",
    "audience",
    "offer",
    "channels",
    "message",
    "control_share_pct",
    "budget_points",
    "starts_at",
    "ends_at",
    "measure_days",
)
MAX_POINTS = 10**12
MAX_MESSAGE = 2000
RULE_FIELDS = ("condition", "effect", "limits", "priority", "stacking", "merchant_id")


def _require_writer(actor: Actor) -> None:
    if actor.role not in WRITERS and not actor.is_admin:
        raise Forbidden("Only the operator's admins and marketers run campaigns.")


def get_campaign(session: Session, campaign_id: str, *, for_update: bool = False) -> Campaign:
    """One campaign, or ``NotFound``."""
    campaign = None
    if usable_id(campaign_id):
        options = {"with_for_update": True, "populate_existing": True} if for_update else {}
        campaign = session.get(Campaign, campaign_id, **options)
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def list_campaigns(
    session: Session, *, limit: int, cursor: str | None, status: str | None = None, q: str | None = None
) -> Page[Campaign]:
    """Campaigns, newest first; ``q`` finds a literal part of the name (any case) or the id."""
    query = select(Campaign)
    if status:
        query = query.where(Campaign.status == status)
    if q:
        q = q.strip()
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Campaign.name.ilike(f"%{escaped}%", escape="\\"), Campaign.id == q))
    return paginate(session, query, Campaign.id, limit=limit, cursor=cursor)


# ---- checking --------------------------------------------------------------------------------


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"The campaign is not valid: {field} {message}.", errors={field: [message]})


def _text(data: Mapping[str, Any], field: str, longest: int, *, required: bool = False, multiline: bool = False):
    value = data.get(field)
    if value is None:
        if required:
            raise _fail(field, "is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(field, "must be text")
    if len(value) > longest or has_control_characters(value, multiline=multiline):
        raise _fail(field, f"must be at most {longest} characters of text")
    return value.strip() if not multiline else value


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"must be a whole number from {low} to {high}")
    return value


def _check_message(message: Any) -> dict[str, dict[str, str]]:
    if message is None:
        return {}
    if not isinstance(message, Mapping):
        raise _fail("message", "must be an object of locales")
    checked: dict[str, dict[str, str]] = {}
    for locale, text in message.items():
        if locale not in LOCALES:
            raise _fail("message", f"has unknown locale {locale!r} (the locales are {', '.join(LOCALES)})")
        if not isinstance(text, Mapping) or set(text) - {"subject", "body"} or not text.get("body"):
            raise _fail(f"message.{locale}", "must be {subject, body} with a body")
        checked[locale] = {}
        for key in ("subject", "body"):
            value = text.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > MAX_MESSAGE or has_control_characters(value, multiline=True):
                raise _fail(f"message.{locale}.{key}", f"must be text of at most {MAX_MESSAGE} characters")
            checked[locale][key] = value
    return checked


def _check_offer(session: Session, offer: Any, *, actor: Actor) -> dict[str, Any]:
    if not isinstance(offer, Mapping) or offer.get("type") not in OFFER_TYPES:
        raise _fail("offer.type", f"must be one of {', '.join(OFFER_TYPES)}")
    kind = offer["type"]
    allowed = {"rule": {"type", "rule"}, "bonus": {"type", "points"}, "reward": {"type", "reward_id"}}[kind]
    if unknown := sorted(set(offer) - allowed):
        raise _fail(f"offer.{unknown[0]}", f"is not a field of a {kind} offer")
    if kind == "bonus":
        return {"type": kind, "points": _whole(offer.get("points"), "offer.points", 1, MAX_POINTS)}
    if kind == "reward":
        reward_id = offer.get("reward_id")
        if not isinstance(reward_id, str):
            raise _fail("offer.reward_id", "is required")
        try:
            rewards.get_reward(session, reward_id, actor=actor)
        except NotFound:
            raise _fail("offer.reward_id", "names no reward") from None
        return {"type": kind, "reward_id": reward_id}
    rule = offer.get("rule")
    if not isinstance(rule, Mapping):
        raise _fail("offer.rule", "must be {condition, effect, limits...}")
    if unknown := sorted(set(rule) - set(RULE_FIELDS)):
        raise _fail(f"offer.rule.{unknown[0]}", "is not a field of a campaign's rule (its name and window are set)")
    return {"type": kind, "rule": dict(rule)}


def rule_spec(campaign: Campaign) -> dict[str, Any]:
    """The earning rule a rule offer makes: the campaign's window, and its budget as the rule's budget."""
    rule = dict(campaign.offer.get("rule") or {})
    limits = dict(rule.get("limits") or {})
    limits["budget_points"] = campaign.budget_points
    return {
        **rule,
        "name": f"Campaign: {campaign.name}"[:200],
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "limits": limits,
    }


def _check(session: Session, data: Mapping[str, Any], *, actor: Actor) -> dict[str, Any]:
    """Every field as stored, checked together (a rule offer is checked as the rule it will be)."""
    if unknown := sorted(set(data) - set(FIELDS)):
        raise _fail(unknown[0], "is not a field of a campaign")
    checked: dict[str, Any] = {
        "name": _text(data, "name", 200, required=True),
        "description": _text(data, "description", 2000, multiline=True),
        "audience": check_audience(data.get("audience")),
        "offer": _check_offer(session, data.get("offer"), actor=actor),
        "message": _check_message(data.get("message")),
        "control_share_pct": _whole(data.get("control_share_pct", 10), "control_share_pct", 0, 90),
        "measure_days": _whole(data.get("measure_days", 30), "measure_days", 1, 366),
        "starts_at": data.get("starts_at"),
        "ends_at": data.get("ends_at"),
    }
    channels = data.get("channels") or []
    if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
        raise _fail("channels", f"must be some of {', '.join(CHANNELS)}")
    checked["channels"] = [c for c in CHANNELS if c in channels]
    if checked["channels"] and not checked["message"]:
        raise _fail("message", "is required to send on a channel")
    budget = data.get("budget_points")
    checked["budget_points"] = None if budget is None else _whole(budget, "budget_points", 1, MAX_POINTS)
    for field in ("starts_at", "ends_at"):
        value = checked[field]
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise _fail(field, "must be a timestamp with its offset")
    if checked["starts_at"] and checked["ends_at"] and checked["ends_at"] <= checked["starts_at"]:
        raise _fail("ends_at", "must be after starts_at")
    offer = checked["offer"]
    if offer["type"] == "rule":
        if checked["budget_points"] is None:
            raise _fail("budget_points", "is required for a rule offer: the points its rule may give in all")
        probe = Campaign(**{k: checked[k] for k in ("name", "offer", "budget_points", "starts_at", "ends_at")})
        earning.check_new_rule(session, rule=rule_spec(probe), actor=actor)
    return checked


def _audit(session: Session, campaign: Campaign, action: str, actor: Actor, **data: Any) -> None:
    record_event(
        session,
        actor=actor,
        action=action,
        object_type="campaign",
        object_id=campaign.id,
        data={"status": campaign.status, **data},
    )


# ---- writing ---------------------------------------------------------------------------------


def create_campaign(session: Session, *, data: Mapping[str, Any], actor: Actor) -> Campaign:
    """Save a new campaign as a draft (audited); ``ValidationFailed`` names the field at fault."""
    _require_writer(actor)
    checked = _check(session, data, actor=actor)
    campaign = Campaign(**checked, status=DRAFT, created_by=actor.name, progress={})
    session.add(campaign)
    session.flush()
    _audit(session, campaign, "campaign.create", actor, name=campaign.name)
    return campaign


def update_campaign(session: Session, *, campaign_id: str, changes: Mapping[str, Any], actor: Actor) -> Campaign:
    """Change a draft (audited with the fields changed); a launched campaign cannot change."""
    _require_writer(actor)
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise InvalidState("Only a draft campaign can be changed; cancel it and write a new one.")
    if unknown := sorted(set(changes) - set(FIELDS)):
        raise _fail(unknown[0], "is not a field of a campaign")
    before = {field: getattr(campaign, field) for field in FIELDS}
    checked = _check(session, {**before, **changes}, actor=actor)
    changed = [field for field in FIELDS if checked[field] != before[field]]
    for field in changed:
        setattr(campaign, field, checked[field])
    if changed:
        session.flush()
        _audit(session, campaign, "campaign.update", actor, fields=changed)
    return campaign


def launch_campaign(session: Session, *, campaign_id: str, actor: Actor, now: datetime | None = None) -> Campaign:
    """Launch a draft: at once, or at its ``starts_at`` when that is later (audited)."""
    _require_writer(actor)
    now = now or utcnow()
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise InvalidState(f"The campaign is {campaign.status}; only a draft can be launched.")
    if campaign.ends_at is not None and campaign.ends_at <= now:
        raise InvalidState("The campaign's ends_at has passed.")
    if campaign.starts_at is None:
        campaign.starts_at = now
    if campaign.ends_at is None:
        campaign.ends_at = campaign.starts_at + timedelta(days=campaign.measure_days)
    campaign.launched_at = now
    if campaign.starts_at > now:
        campaign.status = SCHEDULED
        campaign.progress = {"phase": "scheduled"}
        session.flush()
        _audit(session, campaign, "campaign.launch", actor, starts_at=isoformat_z(campaign.starts_at))
        return campaign
    start_campaign(session, campaign, actor=actor)
    _audit(session, campaign, "campaign.launch", actor, starts_at=isoformat_z(campaign.starts_at))
    return campaign


def start_campaign(session: Session, campaign: Campaign, *, actor: Actor) -> None:
    """Make a launched campaign run: its rule (for a rule offer) is activated, and selection is queued."""
    from loyalty.campaigns.jobs import select_audience

    campaign.status = RUNNING
    campaign.progress = {"phase": "selecting"}
    if campaign.offer.get("type") == "rule" and campaign.rule_id is None:
        rule = earning.create_rule(session, rule=rule_spec(campaign), actor=actor, campaign_id=campaign.id)
        earning.activate_rule(session, rule_id=rule.id, actor=actor)
        campaign.rule_id = rule.id
    session.flush()
    add_task(session, select_audience, campaign_id=campaign.id)


def cancel_campaign(session: Session, *, campaign_id: str, actor: Actor) -> Campaign:
    """Stop a campaign: no more batches are delivered and its rule stops counting (audited).

    What was already given stays given; the results stay readable.
    """
    _require_writer(actor)
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status in (CANCELLED, COMPLETED):
        raise InvalidState(f"The campaign is already {campaign.status}.")
    campaign.status = CANCELLED
    campaign.completed_at = utcnow()
    campaign.progress = {**(campaign.progress or {}), "phase": "cancelled"}
    if campaign.rule_id is not None:
        rule = earning.get_rule(session, campaign.rule_id, actor=actor)
        if rule.status == earning.ACTIVE:
            earning.pause_rule(session, rule_id=rule.id, actor=actor)
    session.flush()
    _audit(session, campaign, "campaign.cancel", actor)
    return campaign


def due_campaigns(session: Session, now: datetime) -> list[str]:
    """Ids of scheduled campaigns whose start has come."""
    return list(
        session.scalars(
            select(Campaign.id).where(Campaign.status == SCHEDULED, Campaign.starts_at <= now).order_by(Campaign.id)
        )
    )


def finished_campaigns(session: Session, now: datetime) -> list[str]:
    """Ids of running campaigns past their ``ends_at``."""
    return list(
        session.scalars(
            select(Campaign.id).where(Campaign.status == RUNNING, Campaign.ends_at <= now).order_by(Campaign.id)
        )
    )
