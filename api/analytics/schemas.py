from marshmallow import fields, validate

from api.common import Schema, StrictInteger, Timestamp, page_schema
from loyalty.analytics.models import LIFECYCLE_STAGES
from loyalty.analytics.rfm import SEGMENTS

STAGE = {"enum": list(LIFECYCLE_STAGES)}
SEGMENT = {"enum": list(SEGMENTS)}
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="A month as YYYY-MM.")
PERIOD_LABEL = validate.Regexp(r"^\d{4}-\d{2}(-\d{2})?$", error="A month (YYYY-MM) or a week's Monday (YYYY-MM-DD).")


class RunSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "done", "failed"]})
    progress = StrictInteger(metadata={"description": "Percent done, 0 to 100."})
    members = StrictInteger(metadata={"description": "Members the run covers (known once it has read them)."})
    created_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    error = fields.String(allow_none=True)
    stats = fields.Dict(
        metadata={
            "description": "Once done: `purchases`, `buyers`, `stage_changes`, `stages` (members by stage), "
            "`value_model` (`bgnbd` {r, alpha, a, b} and `gamma_gamma` {p, q, gamma} as fitted, null with a "
            "`reason` when the data cannot support a fit, `fitted_on` buyers), `settings` (the lifecycle "
            "thresholds used), `timings` (seconds per step). The churn and cohort tables are read at "
            "`/analytics/churn` and `/analytics/cohorts`."
        }
    )


RunPage = page_schema(RunSchema, "AnalyticsRunPage")


def run_body(run) -> dict:
    stats = {k: v for k, v in (run.stats or {}).items() if k not in ("churn", "cohorts")}
    return {
        "id": run.id,
        "status": run.status,
        "progress": run.progress,
        "members": run.members,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "stats": stats,
    }


class FlowArgs(Schema):
    from_ = Timestamp(data_key="from", load_default=None, metadata={"description": "Moves at or after."})
    to = Timestamp(load_default=None, metadata={"description": "Moves before."})


class FlowSchema(Schema):
    from_stage = fields.String(allow_none=True, metadata=STAGE)
    to_stage = fields.String(metadata=STAGE)
    members = StrictInteger(metadata={"description": "Moves from `from_stage` to `to_stage` in the period."})


class FlowsSchema(Schema):
    from_ = Timestamp(data_key="from", allow_none=True)
    to = Timestamp(allow_none=True)
    flows = fields.List(fields.Nested(FlowSchema))


class CountSchema(Schema):
    stage = fields.String(metadata=STAGE)
    members = StrictInteger()


class SegmentCountSchema(Schema):
    segment = fields.String(metadata=SEGMENT)
    members = StrictInteger()
    predicted_value_minor = StrictInteger(metadata={"description": "Their predicted value over 12 months, summed."})


class BandCountSchema(Schema):
    band = StrictInteger(metadata={"description": "Quintile of predicted value, 5 the highest."})
    members = StrictInteger()
    predicted_value_minor = StrictInteger()


class GridCellSchema(Schema):
    r = StrictInteger()
    fm = StrictInteger(metadata={"description": "(F + M + 1) // 2."})
    members = StrictInteger()


class RunRefSchema(Schema):
    id = fields.String()
    finished_at = Timestamp(allow_none=True)


class SegmentsSchema(Schema):
    run = fields.Nested(RunRefSchema, allow_none=True, metadata={"description": "The run the figures come from."})
    stages = fields.List(fields.Nested(CountSchema))
    segments = fields.List(fields.Nested(SegmentCountSchema))
    value_bands = fields.List(fields.Nested(BandCountSchema))
    grid = fields.List(fields.Nested(GridCellSchema), metadata={"description": "Members by R and FM score."})


class ChurnArgs(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(["month", "week"]))
    from_ = fields.String(
        data_key="from",
        load_default=None,
        validate=PERIOD_LABEL,
        metadata={"description": "First period shown: YYYY-MM for months, the Monday YYYY-MM-DD for weeks."},
    )
    to = fields.String(load_default=None, validate=PERIOD_LABEL, metadata={"description": "Last period shown."})


class ChurnRowSchema(Schema):
    period = fields.String(metadata={"description": "YYYY-MM, or the Monday (YYYY-MM-DD) a week starts on."})
    active = StrictInteger(metadata={"description": "Members who bought in the period."})
    new = StrictInteger(metadata={"description": "Active for the first time."})
    reactivated = StrictInteger(metadata={"description": "Active, not in the period before, but earlier."})
    churned = StrictInteger(metadata={"description": "Active in the period before, not in this one."})
    churn_rate = fields.Float(
        allow_none=True,
        metadata={"description": "churned / active in the period before; null while the period is not over."},
    )
    complete = fields.Boolean(
        metadata={
            "description": "False for the period that holds the run's day: its churned count is so far only "
            "(members who have not bought yet may still buy)."
        }
    )


class ChurnSchema(Schema):
    run = fields.Nested(RunRefSchema, allow_none=True)
    period = fields.String()
    periods = fields.List(fields.Nested(ChurnRowSchema))


class CohortArgs(Schema):
    from_ = fields.String(data_key="from", load_default=None, validate=MONTH, metadata={"description": "YYYY-MM."})
    to = fields.String(load_default=None, validate=MONTH, metadata={"description": "YYYY-MM."})


class CohortMonthSchema(Schema):
    month = StrictInteger(metadata={"description": "Months since enrolment (0: the enrolment month)."})
    active = StrictInteger()
    share = fields.Float(allow_none=True, metadata={"description": "active / the cohort's members."})


class CohortSchema(Schema):
    cohort = fields.String(metadata={"description": "Enrolment month, YYYY-MM."})
    members = StrictInteger()
    months = fields.List(fields.Nested(CohortMonthSchema))


class CohortsSchema(Schema):
    run = fields.Nested(RunRefSchema, allow_none=True)
    cohorts = fields.List(fields.Nested(CohortSchema))


class MemberAnalyticsSchema(Schema):
    member_id = fields.String()
    lifecycle_stage = fields.String(metadata=STAGE)
    computed_at = Timestamp(allow_none=True, metadata={"description": "When the figures were computed; null: never."})
    purchases = StrictInteger(allow_none=True)
    first_purchase_at = Timestamp(allow_none=True)
    last_purchase_at = Timestamp(allow_none=True)
    recency_days = StrictInteger(allow_none=True)
    median_gap_days = fields.Float(allow_none=True)
    monetary_minor = StrictInteger(allow_none=True)
    r_score = StrictInteger(allow_none=True)
    f_score = StrictInteger(allow_none=True)
    m_score = StrictInteger(allow_none=True)
    rfm_segment = fields.String(allow_none=True, metadata=SEGMENT)
    p_alive = fields.Float(allow_none=True)
    expected_purchases_90d = fields.Float(allow_none=True)
    predicted_value_minor = StrictInteger(allow_none=True)
    value_band = StrictInteger(allow_none=True)


FIGURES = [name for name in MemberAnalyticsSchema().fields if name not in ("member_id", "lifecycle_stage")]


def member_analytics_body(member, figures) -> dict:
    body = {"member_id": member.id, "lifecycle_stage": member.lifecycle_stage}
    for name in FIGURES:
        body[name] = getattr(figures, name) if figures is not None else None
    return body


def run_ref(run) -> dict | None:
    return None if run is None else {"id": run.id, "finished_at": run.finished_at}
