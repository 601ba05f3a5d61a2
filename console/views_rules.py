"""Earning rules, tiers and rewards for marketers (and admins; a merchant's staff see their own rules).

The rule editor is a plain form: submitting it saves a draft, and the errors
come back next to the fields. ``console.js`` sends the same form to
``/rules/check`` as you type and shows the same errors at once. Before a rule
is switched on, its cost over the last 90 days is simulated
(``loyalty.earning.simulation``); a large simulation runs in the background
and its page shows the progress.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import current_app, jsonify, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from console.common import actor, bp, field_errors, page_args, render, staff_required, text_arg
from loyalty.db import utcnow
from loyalty.earning import queries as rule_queries
from loyalty.earning import services as rules
from loyalty.earning.ruleset import version_spec
from loyalty.earning.simulation import SimulationResult, get_simulation, simulate_rule
from loyalty.errors import InvalidState, LoyaltyError, ValidationFailed
from loyalty.program.services import get_program
from loyalty.rewards import catalog
from loyalty.tiers.services import list_tiers, replace_tiers
from loyalty.units import floor_div
from web.extensions import db

WRITERS = ("admin", "marketer", "merchant")
SIMULATED_DAYS = 90
EFFECT_TYPES = ("per_amount", "per_item", "multiplier", "bonus")
PERIODS = ("day", "week", "month", "year", "ever")


def _int(form: MultiDict, name: str) -> int | str | None:
    value = (form.get(name) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value  # the services say what is wrong with it


def rule_from_form(form: MultiDict) -> dict[str, Any]:
    """The rule mapping the services take, from the editor's fields."""
    effect_type = form.get("effect_type") or "per_amount"
    effect: dict[str, Any] = {"type": effect_type}
    if effect_type == "per_amount":
        effect |= {"points": _int(form, "effect_points"), "per_minor": _int(form, "effect_per_minor")}
    elif effect_type == "per_item":
        effect["points"] = _int(form, "effect_points")
        target = (form.get("effect_target") or "sku").strip()
        effect[target if target in ("sku", "category") else "sku"] = (form.get("effect_match") or "").strip()
    elif effect_type == "multiplier":
        effect["percent"] = _int(form, "effect_percent")
    else:
        effect["points"] = _int(form, "effect_points")
    limits: dict[str, Any] = {}
    times = _int(form, "limit_times")
    if times is not None:
        limits["per_member"] = {"times": times, "period": form.get("limit_period") or "day"}
    budget = _int(form, "budget_points")
    if budget is not None:
        limits["budget_points"] = budget
    rule: dict[str, Any] = {
        "name": (form.get("name") or "").strip(),
        "priority": _int(form, "priority") or 0,
        "stacking": form.get("stacking") or "stack",
        "condition": form.get("condition") or "",
        "effect": effect,
        "limits": limits,
        "starts_at": (form.get("starts_at") or "").strip() or None,
        "ends_at": (form.get("ends_at") or "").strip() or None,
    }
    if "merchant_id" in form:
        rule["merchant_id"] = (form.get("merchant_id") or "").strip() or None
    return rule


def form_from_rule(spec: dict[str, Any]) -> dict[str, Any]:
    """The editor's fields for a stored rule version."""
    effect = spec.get("effect") or {}
    limits = spec.get("limits") or {}
    per_member = limits.get("per_member") or {}
    target = "category" if "category" in effect else "sku"
    return {
        "name": spec.get("name") or "",
        "priority": spec.get("priority", 0),
        "stacking": spec.get("stacking") or "stack",
        "merchant_id": spec.get("merchant_id") or "",
        "condition": spec.get("condition") or "",
        "effect_type": effect.get("type", "per_amount"),
        "effect_points": effect.get("points", ""),
        "effect_per_minor": effect.get("per_minor", ""),
        "effect_percent": effect.get("percent", ""),
        "effect_target": target,
        "effect_match": effect.get(target, ""),
        "limit_times": per_member.get("times", ""),
        "limit_period": per_member.get("period", "day"),
        "budget_points": limits.get("budget_points", ""),
        "starts_at": spec["starts_at"].isoformat() if spec.get("starts_at") else "",
        "ends_at": spec["ends_at"].isoformat() if spec.get("ends_at") else "",
    }


def _editor(template_status: int = 200, **context: Any):
    return render("rule_edit.html", template_status, effect_types=EFFECT_TYPES, periods=PERIODS, **context)


@bp.get("/rules")
@staff_required(*WRITERS)
def rules_list():
    limit, cursor = page_args()
    status = text_arg("status")
    search = text_arg("q")
    page = rule_queries.list_rules(
        db.session,
        limit=limit,
        cursor=cursor,
        status=status if status in rules.STATUSES else None,
        search=search,
        actor=actor(),
    )
    versions = rule_queries.current_versions(db.session, page.items)
    items = [(rule, versions[rule.id]) for rule in page.items]
    return render("rules.html", rules=items, page=page, status=status or "", q=search or "")


@bp.route("/rules/new", methods=["GET", "POST"])
@staff_required(*WRITERS)
def rule_new():
    if request.method == "GET":
        return _editor(form={"effect_type": "per_amount", "stacking": "stack", "limit_period": "day"}, errors={})
    try:
        rule = rules.create_rule(db.session, rule=rule_from_form(request.form), actor=actor())
    except ValidationFailed as error:
        db.session.rollback()
        return _editor(422, form=request.form, errors=field_errors(error), error=error.message)
    db.session.commit()
    return redirect(url_for("console.rule", rule_id=rule.id))


@bp.post("/rules/check")
@staff_required(*WRITERS)
def rule_check():
    """The editor's form checked as saving would check it; nothing is written (JSON, for console.js)."""
    try:
        rules.check_new_rule(db.session, rule=rule_from_form(request.form), actor=actor())
    except LoyaltyError as error:
        return jsonify({"ok": False, "message": error.message, "errors": field_errors(error)})
    return jsonify({"ok": True, "message": "The rule is valid.", "errors": {}})


def _rule_page(rule_id: str, *, status: int = 200, **extra: Any):
    rule = rules.get_rule(db.session, rule_id, actor=actor())
    version = rules.current_version(db.session, rule)
    spec = version_spec(version)
    extra.setdefault("form", form_from_rule(spec))
    extra.setdefault("errors", {})
    program = get_program(db.session)
    return _editor(status, rule=rule, version=version, program=program, **extra)


@bp.get("/rules/<rule_id>")
@staff_required(*WRITERS)
def rule(rule_id: str):
    return _rule_page(rule_id)


@bp.post("/rules/<rule_id>")
@staff_required(*WRITERS)
def rule_save(rule_id: str):
    changes = rule_from_form(request.form)
    changes.pop("merchant_id", None)  # a rule's merchant never changes
    try:
        rules.update_rule(db.session, rule_id=rule_id, changes=changes, actor=actor())
    except ValidationFailed as error:
        db.session.rollback()
        return _rule_page(rule_id, status=422, form=request.form, errors=field_errors(error), error=error.message)
    db.session.commit()
    return redirect(url_for("console.rule", rule_id=rule_id))


@bp.post("/rules/<rule_id>/<any(activate, pause):action>")
@staff_required(*WRITERS)
def rule_status(rule_id: str, action: str):
    change = rules.activate_rule if action == "activate" else rules.pause_rule
    try:
        change(db.session, rule_id=rule_id, actor=actor())
    except (ValidationFailed, InvalidState) as error:
        db.session.rollback()
        return _rule_page(rule_id, status=422, error=error.message)
    db.session.commit()
    return redirect(url_for("console.rule", rule_id=rule_id))


def cost_minor(points: int, program) -> int:
    """What ``points`` are worth at the program's redemption rate, rounded down."""
    return floor_div(points * program.redemption_value_minor, program.redemption_points)


@bp.post("/rules/<rule_id>/simulate")
@staff_required(*WRITERS)
def rule_simulate(rule_id: str):
    rule = rules.get_rule(db.session, rule_id, actor=actor())
    spec = version_spec(rules.current_version(db.session, rule))
    draft = {k: v for k, v in spec.items() if k not in ("id", "version")}
    to = utcnow()
    result = simulate_rule(
        db.session,
        rule=draft,
        from_=to - timedelta(days=SIMULATED_DAYS),
        to=to,
        sync_limit=current_app.config.get("SIMULATION_SYNC_LIMIT", 5000),
        actor=actor(),
    )
    db.session.commit()
    if isinstance(result, SimulationResult):
        program = get_program(db.session)
        return _rule_page(rule_id, simulation=result, cost=cost_minor(result.points, program))
    return redirect(url_for("console.simulation", simulation_id=result.id, rule_id=rule.id))


def _simulation_state(simulation_id: str) -> dict[str, Any]:
    simulation = get_simulation(db.session, simulation_id, actor=actor())
    program = get_program(db.session)
    points = simulation.points or 0
    return {
        "id": simulation.id,
        "status": simulation.status,
        "done": simulation.done,
        "total": simulation.total,
        "percent": floor_div(100 * simulation.done, simulation.total) if simulation.total else 100,
        "purchases_matched": simulation.purchases_matched,
        "members_affected": simulation.members_affected,
        "points": simulation.points,
        "cost_minor": cost_minor(points, program) if simulation.status == "done" else None,
        "currency": program.currency,
        "error": simulation.error,
    }


@bp.get("/simulations/<simulation_id>")
@staff_required(*WRITERS)
def simulation(simulation_id: str):
    state = _simulation_state(simulation_id)
    return render("simulation.html", state=state, rule_id=text_arg("rule_id"))


@bp.get("/simulations/<simulation_id>.json")
@staff_required(*WRITERS)
def simulation_json(simulation_id: str):
    return jsonify(_simulation_state(simulation_id))


TIER_FIELDS = ("code", "name", "rank", "qualifying_points", "benefits")
BLANK_TIER_ROWS = 2


def _tier_rows_from_form(form: MultiDict) -> list[dict[str, str]]:
    """The ladder's rows as typed: ``tier-N-field`` for each row N, in the order shown."""
    count = min(int(form.get("rows") or 0) if (form.get("rows") or "").isdigit() else 0, 50)
    return [
        {field: (form.get(f"tier-{n}-{field}") or "").strip() for field in TIER_FIELDS}
        | {"remove": "1" if form.get(f"tier-{n}-remove") else ""}
        for n in range(count)
    ]


def _tier_from_row(row: dict[str, str]) -> dict[str, Any]:
    """A row as the tier list's item; numbers and benefits that do not parse are left for the checks to name."""
    item: dict[str, Any] = {"code": row["code"], "name": row["name"], "benefits": {}}
    for field in ("rank", "qualifying_points"):
        value = row[field]
        item[field] = int(value) if value.lstrip("-").isdigit() else value
    if row["benefits"]:
        try:
            item["benefits"] = json.loads(row["benefits"])
        except ValueError:
            item["benefits"] = row["benefits"]
    return item


@bp.route("/tiers", methods=["GET", "POST"])
@staff_required("admin", "marketer")
def tiers():
    """The ladder as one form: edit a row, tick Remove, or fill a blank row; saved whole, as ``PUT /tiers``."""
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        rows = _tier_rows_from_form(request.form)
        kept = [(n, row) for n, row in enumerate(rows) if not row["remove"] and any(row[f] for f in TIER_FIELDS)]
        try:
            replace_tiers(db.session, tiers=[_tier_from_row(row) for _, row in kept], actor=actor())
        except ValidationFailed as error:
            db.session.rollback()
            status = 422
            # The checks name each tier by its place in the list sent; the form names it by its row.
            for field, messages in field_errors(error).items():
                place, _, name = field.partition(".")
                if place.isdigit() and int(place) < len(kept):
                    errors.setdefault(f"tier-{kept[int(place)][0]}-{name or 'code'}", []).extend(messages)
                else:
                    errors.setdefault("_form", []).extend(messages)
            errors.setdefault("_form", []).insert(0, error.message)
        else:
            db.session.commit()
            return redirect(url_for("console.tiers", saved=1), code=303)
    else:
        rows = [
            {
                "code": t.code,
                "name": t.name,
                "rank": str(t.rank),
                "qualifying_points": str(t.qualifying_points),
                "benefits": json.dumps(t.benefits, ensure_ascii=False) if t.benefits else "",
                "remove": "",
            }
            for t in list_tiers(db.session)
        ]
        rows += [dict.fromkeys((*TIER_FIELDS, "remove"), "") for _ in range(BLANK_TIER_ROWS)]
    notice = "The tiers are saved." if request.args.get("saved") else None
    return render("tiers.html", status, rows=rows, errors=errors, notice=notice)


@bp.route("/rewards", methods=["GET", "POST"])
@staff_required("admin", "marketer")
def rewards():
    limit, cursor = page_args()
    errors: dict = {}
    status = 200
    form: dict = {}
    if request.method == "POST":
        form = {k: (request.form.get(k) or "").strip() for k in ("name", "description", "points_cost", "stock")}
        body: dict[str, Any] = {"name": form["name"], "description": form["description"]}
        for field in ("points_cost", "stock"):
            value = _int(request.form, field)
            if value is not None:
                body[field] = value
        try:
            catalog.create_reward(db.session, reward=body, actor=actor())
        except ValidationFailed as error:
            db.session.rollback()
            errors, status = field_errors(error) or {"_form": [error.message]}, 422
        else:
            db.session.commit()
            form = {}
    page = catalog.list_rewards(db.session, limit=limit, cursor=cursor, actor=actor())
    return render("rewards.html", status, rewards=page, form=form, errors=errors)


REWARD_FORM_FIELDS = ("name", "description", "points_cost", "stock", "per_member_limit", "min_tier", "status")


@bp.route("/rewards/<reward_id>", methods=["GET", "POST"])
@staff_required("admin", "marketer")
def reward(reward_id: str):
    """One reward: change its text, points, stock, limit or minimum tier, or archive it (``PATCH /rewards/{id}``)."""
    errors: dict = {}
    status = 200
    row = catalog.get_reward(db.session, reward_id, actor=actor())
    if request.method == "POST":
        form = {k: (request.form.get(k) or "").strip() for k in REWARD_FORM_FIELDS}
        changes: dict[str, Any] = {
            "name": form["name"],
            "description": form["description"],
            "min_tier": form["min_tier"] or None,
            "status": form["status"] or row.status,
        }
        for field in ("points_cost", "stock", "per_member_limit"):
            changes[field] = _int(request.form, field)
        try:
            catalog.update_reward(db.session, reward_id=reward_id, changes=changes, actor=actor())
        except ValidationFailed as error:
            db.session.rollback()
            errors, status = field_errors(error) or {"_form": [error.message]}, 422
        else:
            db.session.commit()
            return redirect(url_for("console.reward", reward_id=reward_id, saved=1), code=303)
    else:
        form = {k: "" if getattr(row, k) is None else str(getattr(row, k)) for k in REWARD_FORM_FIELDS}
    return render(
        "reward.html",
        status,
        reward=row,
        form=form,
        errors=errors,
        tiers=list_tiers(db.session),
        notice="The reward is saved." if request.args.get("saved") else None,
    )
