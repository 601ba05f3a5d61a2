"""Campaigns for marketers and admins: the list, the editor with a live audience estimate, launch, progress, results.

The editor is a plain form; its "Estimate" button re-renders it with the
audience's size, and ``console.js`` asks ``/campaigns/audience-size`` for the
same figure as you type. A running campaign's page refreshes itself while its
batches are delivered; its results carry two server-drawn charts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import jsonify, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from console import charts
from console.common import actor, bp, field_errors, page_args, render, staff_required, text_arg
from loyalty.analytics.models import LIFECYCLE_STAGES
from loyalty.campaigns import results as campaign_results
from loyalty.campaigns import services as campaigns
from loyalty.campaigns.audience import count_audience
from loyalty.campaigns.models import CAMPAIGN_STATUSES, CHANNELS
from loyalty.contacts import LOCALES
from loyalty.errors import ValidationFailed
from web.extensions import db

STAFF = ("admin", "marketer")
OFFER_TYPES = ("bonus", "reward", "rule")
RULE_EFFECTS = ("bonus", "multiplier", "per_amount")


def _int(form: MultiDict, name: str) -> int | str | None:
    value = (form.get(name) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value  # the services say what is wrong with it


def _words(form: MultiDict, name: str) -> list[str]:
    return [part.strip() for part in (form.get(name) or "").replace("\n", ",").split(",") if part.strip()]


def _instant(form: MultiDict, name: str) -> datetime | str | None:
    value = (form.get(name) or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audience_from_form(form: MultiDict) -> dict[str, Any]:
    audience: dict[str, Any] = {
        "lifecycle_stages": form.getlist("lifecycle_stages"),
        "rfm_segments": _words(form, "rfm_segments"),
        "value_bands": [_int(MultiDict({"v": v}), "v") for v in form.getlist("value_bands")],
        "tiers": _words(form, "tiers"),
        "merchant_ids": _words(form, "merchant_ids"),
        "consent": form.getlist("consent"),
    }
    days = {k: _int(form, f"days_{k}") for k in ("min", "max")}
    audience["days_since_last_purchase"] = {k: v for k, v in days.items() if v is not None}
    return {key: value for key, value in audience.items() if value}


def campaign_from_form(form: MultiDict) -> dict[str, Any]:
    """The campaign mapping the services take, from the editor's fields."""
    offer_type = form.get("offer_type") or "bonus"
    offer: dict[str, Any] = {"type": offer_type}
    if offer_type == "bonus":
        offer["points"] = _int(form, "offer_points")
    elif offer_type == "reward":
        offer["reward_id"] = (form.get("reward_id") or "").strip()
    else:
        effect_type = form.get("rule_effect") or "bonus"
        effect: dict[str, Any] = {"type": effect_type}
        if effect_type == "multiplier":
            effect["percent"] = _int(form, "rule_value")
        elif effect_type == "per_amount":
            effect |= {"points": _int(form, "rule_value"), "per_minor": _int(form, "rule_per_minor")}
        else:
            effect["points"] = _int(form, "rule_value")
        offer["rule"] = {"condition": form.get("rule_condition") or "", "effect": effect}
    message = {}
    for locale in LOCALES:
        body = (form.get(f"body_{locale}") or "").strip()
        if body:
            message[locale] = {"subject": (form.get(f"subject_{locale}") or "").strip(), "body": body}
    return {
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip() or None,
        "audience": audience_from_form(form),
        "offer": offer,
        "channels": form.getlist("channels"),
        "message": message,
        "control_share_pct": _int(form, "control_share_pct") if form.get("control_share_pct") else 10,
        "budget_points": _int(form, "budget_points"),
        "starts_at": _instant(form, "starts_at"),
        "ends_at": _instant(form, "ends_at"),
        "measure_days": _int(form, "measure_days") or 30,
    }


def form_from_campaign(campaign) -> dict[str, Any]:
    audience = campaign.audience or {}
    offer = campaign.offer or {}
    rule = offer.get("rule") or {}
    effect = rule.get("effect") or {}
    days = audience.get("days_since_last_purchase") or {}
    form: dict[str, Any] = {
        "name": campaign.name,
        "description": campaign.description or "",
        "lifecycle_stages": audience.get("lifecycle_stages", []),
        "rfm_segments": ", ".join(audience.get("rfm_segments", [])),
        "value_bands": [str(b) for b in audience.get("value_bands", [])],
        "tiers": ", ".join(audience.get("tiers", [])),
        "merchant_ids": ", ".join(audience.get("merchant_ids", [])),
        "consent": audience.get("consent", []),
        "days_min": days.get("min", ""),
        "days_max": days.get("max", ""),
        "offer_type": offer.get("type", "bonus"),
        "offer_points": offer.get("points", ""),
        "reward_id": offer.get("reward_id", ""),
        "rule_condition": rule.get("condition", ""),
        "rule_effect": effect.get("type", "bonus"),
        "rule_value": effect.get("percent", effect.get("points", "")),
        "rule_per_minor": effect.get("per_minor", ""),
        "channels": campaign.channels or [],
        "control_share_pct": campaign.control_share_pct,
        "budget_points": campaign.budget_points or "",
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else "",
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else "",
        "measure_days": campaign.measure_days,
    }
    for locale in LOCALES:
        text = (campaign.message or {}).get(locale) or {}
        form[f"subject_{locale}"] = text.get("subject", "")
        form[f"body_{locale}"] = text.get("body", "")
    return form


def _form_dict(form: MultiDict) -> dict[str, Any]:
    data: dict[str, Any] = {key: form.get(key) for key in form}
    for key in ("lifecycle_stages", "value_bands", "consent", "channels"):
        data[key] = form.getlist(key)
    return data


def _editor(code: int = 200, **context: Any):
    return render(
        "campaign_edit.html",
        code,
        stages=LIFECYCLE_STAGES,
        channels=CHANNELS,
        locales=LOCALES,
        offer_types=OFFER_TYPES,
        rule_effects=RULE_EFFECTS,
        **context,
    )


def _estimate(form: MultiDict) -> tuple[int | None, dict[str, list[str]]]:
    try:
        return count_audience(db.session, audience_from_form(form)), {}
    except ValidationFailed as error:
        return None, field_errors(error)


@bp.get("/campaigns")
@staff_required(*STAFF)
def campaigns_list():
    limit, cursor = page_args()
    status = text_arg("status")
    search = text_arg("q")
    page = campaigns.list_campaigns(
        db.session,
        limit=limit,
        cursor=cursor,
        status=status if status in CAMPAIGN_STATUSES else None,
        q=search,
    )
    return render("campaigns.html", page=page, status=status or "", q=search or "", statuses=CAMPAIGN_STATUSES)


@bp.post("/campaigns/audience-size")
@staff_required(*STAFF)
def campaign_audience_size():
    size, errors = _estimate(request.form)
    db.session.rollback()
    return jsonify({"members": size, "errors": errors})


def _save(campaign_id: str | None):
    form = request.form
    if "estimate" in form:
        size, errors = _estimate(form)
        db.session.rollback()
        return _editor(form=_form_dict(form), errors=errors, estimate=size, campaign_id=campaign_id)
    data = campaign_from_form(form)
    try:
        if campaign_id is None:
            campaign = campaigns.create_campaign(db.session, data=data, actor=actor())
        else:
            campaign = campaigns.update_campaign(db.session, campaign_id=campaign_id, changes=data, actor=actor())
    except ValidationFailed as error:
        db.session.rollback()
        return _editor(422, form=_form_dict(form), errors=field_errors(error), campaign_id=campaign_id)
    db.session.commit()
    return redirect(url_for("console.campaign", campaign_id=campaign.id))


@bp.route("/campaigns/new", methods=["GET", "POST"])
@staff_required(*STAFF)
def campaign_new():
    if request.method == "GET":
        form = {"offer_type": "bonus", "control_share_pct": 10, "measure_days": 30, "channels": ["email"]}
        return _editor(form=form, errors={}, campaign_id=None)
    return _save(None)


@bp.route("/campaigns/<campaign_id>/edit", methods=["GET", "POST"])
@staff_required(*STAFF)
def campaign_edit(campaign_id):
    campaign = campaigns.get_campaign(db.session, campaign_id)
    if request.method == "GET":
        return _editor(form=form_from_campaign(campaign), errors={}, campaign_id=campaign.id)
    return _save(campaign.id)


@bp.get("/campaigns/<campaign_id>")
@staff_required(*STAFF)
def campaign(campaign_id):
    found = campaigns.get_campaign(db.session, campaign_id)
    if (found.progress or {}).get("phase") in ("selecting", "delivering"):
        # The page refreshes itself while the batches run: results wait until they are done.
        result = {"verdict": "Results come once the offers are delivered.", "points_cost": found.points_spent}
    else:
        result = campaign_results.campaign_results(db.session, found)
    return render("campaign.html", campaign=found, result=result, charts=_charts(result))


@bp.post("/campaigns/<campaign_id>/launch")
@staff_required(*STAFF)
def campaign_launch(campaign_id):
    campaigns.launch_campaign(db.session, campaign_id=campaign_id, actor=actor())
    db.session.commit()
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


@bp.post("/campaigns/<campaign_id>/cancel")
@staff_required(*STAFF)
def campaign_cancel(campaign_id):
    campaigns.cancel_campaign(db.session, campaign_id=campaign_id, actor=actor())
    db.session.commit()
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


def _charts(result: dict[str, Any]) -> list:
    groups = result.get("groups") or {}
    if not groups:
        return []
    treatment, control = groups["treatment"], groups["control"]
    drawn = [
        charts.bars(
            "Revenue per member: treatment (blue) and control (grey)",
            "Revenue per member in the measurement window, in minor units: treatment against control.",
            ["Revenue per member"],
            [
                ("treatment", [round(treatment["revenue_per_member_minor"] or 0)]),
                ("control", [round(control["revenue_per_member_minor"] or 0)]),
            ],
        ),
        charts.bars(
            "Conversion: treatment (blue) and control (grey)",
            "The share of each group who bought in the window, in tenths of a percent.",
            ["Conversion (‰)"],
            [
                ("treatment", [round((treatment["conversion"] or 0) * 1000)]),
                ("control", [round((control["conversion"] or 0) * 1000)]),
            ],
        ),
    ]
    conversion, revenue = result.get("conversion_lift"), result.get("revenue_lift")
    if conversion and revenue:
        drawn.append(
            charts.intervals(
                "Lift in conversion",
                "The difference in conversion, treatment less control, with its 95% interval, in percentage points.",
                ["Conversion lift"],
                [round(conversion["difference"] * 10_000)],
                [round(conversion["ci_low"] * 10_000)],
                [round(conversion["ci_high"] * 10_000)],
                fmt=lambda v: f"{v / 100:.1f} pp",
            )
        )
        drawn.append(
            charts.intervals(
                "Lift in revenue per member",
                "The difference in revenue per member with its 95% bootstrap interval, in minor units.",
                ["Revenue lift"],
                [round(revenue["difference_minor"])],
                [round(revenue["ci_low"])],
                [round(revenue["ci_high"])],
            )
        )
    return drawn
