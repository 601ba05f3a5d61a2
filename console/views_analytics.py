"""The member base for marketers and admins: lifecycle stages and their flows, RFM segments, value, churn, cohorts.

The figures are those of the last analytics run (``loyalty.analytics``);
starting a run shows its progress as a rule simulation does, and comes back
here when it is done.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import jsonify, redirect, url_for

from console import charts
from console.common import actor, bp, render, staff_required
from loyalty.analytics import services
from loyalty.analytics.models import LIFECYCLE_STAGES
from loyalty.analytics.rfm import GRID
from loyalty.db import utcnow
from loyalty.program.services import get_program
from web.extensions import db

READERS = ("admin", "marketer")
FLOW_DAYS = 30
CHURN_MONTHS = 18
COHORT_MONTHS = 12
STAGE_LABELS = {
    "prospect": "Prospect",
    "first_purchase": "First purchase",
    "growth": "Growth",
    "maturity": "Maturity",
    "at_risk": "At risk",
    "lapsed": "Lapsed",
    "lost": "Lost",
    "won_back": "Won back",
}


@bp.app_template_filter("stage_label")
def _stage_label(stage: str | None) -> str:
    return STAGE_LABELS.get(stage or "", stage or "(new member)")


def _percent(share: float | None) -> str:
    return "" if share is None else f"{round(share * 100)} %"


@bp.get("/analytics")
@staff_required(*READERS)
def analytics():
    """Where members stand, from the last run."""
    who = actor()
    overview = services.overview(db.session, actor=who)
    run = services.last_finished_run(db.session, actor=who)
    now = utcnow()
    flows = services.stage_flows(db.session, start=now - timedelta(days=FLOW_DAYS), end=None, actor=who)
    _, months = services.churn(db.session, period="month", start=None, end=None, actor=who)
    months = months[-CHURN_MONTHS:]
    _, cohorts = services.cohort_retention(db.session, start=None, end=None, actor=who)
    cohorts = cohorts[-COHORT_MONTHS:]
    stages = overview["stages"]
    cells = {(cell["r"], cell["fm"]): cell["members"] for cell in overview["grid"]}
    grid = [
        {
            "r": r,
            "cells": [
                {"fm": fm, "members": cells.get((r, fm), 0), "segment": GRID[r - 1][fm - 1]} for fm in range(1, 6)
            ],
        }
        for r in range(5, 0, -1)
    ]
    labels = [month["period"] if month["complete"] else f"{month['period']} (so far)" for month in months]
    figures: dict[str, Any] = {
        "stages": charts.bars(
            "Members by lifecycle stage",
            "One bar per lifecycle stage: how many members are in it now.",
            [STAGE_LABELS[row["stage"]] for row in stages],
            [("members", [row["members"] for row in stages])],
        ),
        "churn": charts.bars(
            "Active, new, reactivated and churned members per month",
            "Bars per month: members who bought (blue), bought for the first time (green), came back (orange) "
            "and stopped buying (red).",
            labels,
            [
                ("active", [m["active"] for m in months]),
                ("new", [m["new"] for m in months]),
                ("reactivated", [m["reactivated"] for m in months]),
                # A month not over has no churn yet.
                ("churned", [m["churned"] if m["complete"] else 0 for m in months]),
            ],
        ),
    }
    width = max((len(row["months"]) for row in cohorts), default=0)
    cohort_rows = [
        {
            "cohort": row["cohort"],
            "members": row["members"],
            "cells": [
                {
                    "active": month["active"],
                    "share": _percent(month["share"]),
                    "heat": charts.heat_level(month["share"]),
                }
                for month in row["months"]
            ],
        }
        for row in cohorts
    ]
    return render(
        "analytics.html",
        run=run,
        program=get_program(db.session),
        stages=stages,
        flows=flows,
        flow_days=FLOW_DAYS,
        segments=overview["segments"],
        bands=sorted(overview["value_bands"], key=lambda band: -band["band"]),
        grid=grid,
        months=months,
        cohorts=cohort_rows,
        cohort_width=width,
        charts=figures,
        stage_order=LIFECYCLE_STAGES,
    )


@bp.post("/analytics/runs")
@staff_required(*READERS)
def analytics_run_start():
    run = services.start_run(db.session, actor=actor())
    db.session.commit()
    return redirect(url_for("console.analytics_run", run_id=run.id))


def _run_state(run_id: str) -> dict[str, Any]:
    run = services.get_run(db.session, run_id, actor=actor())
    return {
        "id": run.id,
        "status": run.status,
        "percent": run.progress,
        # done/total as the progress poller of console.js reads them (the rule simulations' page pattern).
        "done": run.progress,
        "total": 100,
        "members": run.members,
        "stage_changes": (run.stats or {}).get("stage_changes"),
        "error": run.error,
    }


@bp.get("/analytics/runs/<run_id>")
@staff_required(*READERS)
def analytics_run(run_id: str):
    return render("analytics_run.html", state=_run_state(run_id))


@bp.get("/analytics/runs/<run_id>.json")
@staff_required(*READERS)
def analytics_run_json(run_id: str):
    return jsonify(_run_state(run_id))
