from flask.views import MethodView
from flask_smorest import Blueprint

from api.analytics.schemas import (
    ChurnArgs,
    ChurnSchema,
    CohortArgs,
    CohortsSchema,
    FlowArgs,
    FlowsSchema,
    MemberAnalyticsSchema,
    RunPage,
    RunSchema,
    SegmentsSchema,
    member_analytics_body,
    run_body,
    run_ref,
)
from api.auth import current_actor, requires
from api.common import PageArgs
from loyalty.actors import Role
from loyalty.analytics import services
from web.extensions import db

blp = Blueprint(
    "analytics",
    __name__,
    url_prefix="",
    description=(
        "Where members stand: lifecycle stages and the moves between them, RFM segments, predicted value "
        "(BG/NBD and Gamma-Gamma), churn per period and cohort retention (docs/analytics.md). The figures are "
        "those of the last finished analytics run (nightly, or started with `POST /analytics/runs`). Admin and "
        "marketer keys only."
    ),
)

READERS = (Role.ADMIN, Role.MARKETER)


@blp.route("/analytics/runs")
class RunsView(MethodView):
    @requires(*READERS)
    @blp.response(202, RunSchema)
    def post(self):
        """Start an analytics run now (a run already queued is answered instead); follow it at its id."""
        run = services.start_run(db.session, actor=current_actor())
        db.session.commit()
        return run_body(run)

    @requires(*READERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RunPage)
    def get(self, args):
        """List analytics runs, newest first."""
        page = services.list_runs(db.session, **args, actor=current_actor())
        return {"items": [run_body(run) for run in page.items], "next_cursor": page.next_cursor}


@blp.route("/analytics/runs/<run_id>")
class RunView(MethodView):
    @requires(*READERS)
    @blp.response(200, RunSchema)
    def get(self, run_id):
        """One run: its progress, and once done its counts, fitted parameters and timings."""
        return run_body(services.get_run(db.session, run_id, actor=current_actor()))


@blp.route("/analytics/lifecycle/flows")
class FlowsView(MethodView):
    @requires(*READERS)
    @blp.arguments(FlowArgs, location="query")
    @blp.response(200, FlowsSchema)
    def get(self, args):
        """How many members moved from each lifecycle stage to each other in a period (all time by default)."""
        flows = services.stage_flows(db.session, start=args["from_"], end=args["to"], actor=current_actor())
        return {"from_": args["from_"], "to": args["to"], "flows": flows}


@blp.route("/analytics/segments")
class SegmentsView(MethodView):
    @requires(*READERS)
    @blp.response(200, SegmentsSchema)
    def get(self):
        """Members by lifecycle stage, RFM segment, value band and R x FM cell, with their predicted value."""
        run = services.last_finished_run(db.session, actor=current_actor())
        return {"run": run_ref(run), **services.overview(db.session, actor=current_actor())}


@blp.route("/analytics/churn")
class ChurnView(MethodView):
    @requires(*READERS)
    @blp.arguments(ChurnArgs, location="query")
    @blp.response(200, ChurnSchema)
    def get(self, args):
        """Active, new, churned and reactivated members per month or week, with the churn rate."""
        run, rows = services.churn(
            db.session, period=args["period"], start=args["from_"], end=args["to"], actor=current_actor()
        )
        return {"run": run_ref(run), "period": args["period"], "periods": rows}


@blp.route("/analytics/cohorts")
class CohortsView(MethodView):
    @requires(*READERS)
    @blp.arguments(CohortArgs, location="query")
    @blp.response(200, CohortsSchema)
    def get(self, args):
        """Retention by enrolment month: each cohort's members and the share active in each month since."""
        run, rows = services.cohort_retention(db.session, start=args["from_"], end=args["to"], actor=current_actor())
        return {"run": run_ref(run), "cohorts": rows}


@blp.route("/members/<member_id>/analytics")
class MemberAnalyticsView(MethodView):
    @requires(*READERS)
    @blp.response(200, MemberAnalyticsSchema)
    def get(self, member_id):
        """One member's lifecycle stage, RFM scores and segment, p_alive, expected purchases and predicted value."""
        member, figures = services.member_analytics(db.session, member_id, actor=current_actor())
        return member_analytics_body(member, figures)
