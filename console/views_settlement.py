"""Funding, statements and liability: what partners and the operator owe each other for points."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, redirect, request, url_for

from console import charts
from console.common import actor, bp, field_errors, page_args, render, staff_required
from loyalty.db import utcnow
from loyalty.errors import ValidationFailed
from loyalty.merchants.checks import get_merchant
from loyalty.merchants.models import Merchant
from loyalty.program.services import get_program
from loyalty.settlement import funding as funding_services
from loyalty.settlement import liability as liability_services
from loyalty.settlement import reading as statement_reading
from loyalty.settlement import statements as statement_services
from web.extensions import db

STAFF = ("admin", "merchant")


def _whole(name: str) -> int | str | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value  # the service says what is wrong with it


def _funding_page(merchant_id: str, code: int = 200, **extra: Any):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    funding = funding_services.get_funding(db.session, shop.id, actor=actor())
    limit, cursor = page_args()
    top_ups = funding_services.list_top_ups(db.session, merchant_id=shop.id, limit=limit, cursor=cursor, actor=actor())
    extra.setdefault("errors", {})
    return render(
        "funding.html", code, merchant=shop, funding=funding, top_ups=top_ups, program=get_program(db.session), **extra
    )


@bp.get("/merchants/<merchant_id>/funding")
@staff_required(*STAFF)
def funding(merchant_id: str):
    return _funding_page(merchant_id)


@bp.post("/merchants/<merchant_id>/funding")
@staff_required("admin")
def funding_save(merchant_id: str):
    changes: dict[str, Any] = {
        field: _whole(field)
        for field in ("issue_price_minor", "issue_per_points", "redeem_price_minor", "redeem_per_points")
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    changes["warn_below"] = _whole("warn_below")
    changes["prepaid"] = request.form.get("prepaid") == "on"
    changes["when_exhausted"] = request.form.get("when_exhausted") or "continue"
    try:
        funding_services.update_funding(db.session, merchant_id=merchant_id, changes=changes, actor=actor())
    except ValidationFailed as error:
        db.session.rollback()
        return _funding_page(merchant_id, 422, errors=field_errors(error), error=error.message)
    db.session.commit()
    return redirect(url_for("console.funding", merchant_id=merchant_id))


@bp.post("/merchants/<merchant_id>/funding/top-up")
@staff_required("admin")
def funding_top_up(merchant_id: str):
    try:
        funding_services.top_up_prepaid(
            db.session,
            merchant_id=merchant_id,
            points=_whole("points"),
            amount_minor=_whole("amount_minor") or 0,
            note=request.form.get("note"),
            actor=actor(),
        )
    except ValidationFailed as error:
        db.session.rollback()
        return _funding_page(merchant_id, 422, errors=field_errors(error), error=error.message)
    db.session.commit()
    return redirect(url_for("console.funding", merchant_id=merchant_id))


@bp.get("/merchants/<merchant_id>/statements")
@staff_required(*STAFF)
def statements(merchant_id: str):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    limit, cursor = page_args()
    page = statement_reading.list_statements(db.session, merchant_id=shop.id, limit=limit, cursor=cursor, actor=actor())
    return render("statements.html", merchant=shop, statements=page)


@bp.post("/merchants/<merchant_id>/statements/close")
@staff_required("admin")
def statements_close(merchant_id: str):
    """Close the merchant's months that have ended now, as the daily job would."""
    shop = get_merchant(db.session, merchant_id, actor=actor())
    now = utcnow()
    timezone = get_program(db.session).timezone
    for period in statement_services.months_due(db.session, shop, timezone=timezone, now=now):
        statement_services.close_statement(db.session, merchant_id=shop.id, period_start=period, actor=actor(), now=now)
    db.session.commit()
    return redirect(url_for("console.statements", merchant_id=shop.id))


@bp.get("/statements/<statement_id>")
@staff_required(*STAFF)
def statement(statement_id: str):
    found = statement_reading.get_statement(db.session, statement_id, actor=actor())
    shop = get_merchant(db.session, found.merchant_id, actor=actor())
    limit, cursor = page_args()
    lines = statement_reading.statement_lines(db.session, found, limit=limit, cursor=cursor)
    return render("statement.html", merchant=shop, statement=found, lines=lines)


@bp.get("/statements/<statement_id>.csv")
@staff_required(*STAFF)
def statement_csv(statement_id: str):
    found = statement_reading.get_statement(db.session, statement_id, actor=actor())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in statement_reading.csv_rows(db.session, found):
        writer.writerow(row)
    name = f"statement-{found.merchant_id}-{found.period_start:%Y-%m}.csv"
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.get("/liability")
@staff_required("admin")
def liability():
    """Outstanding points by merchant and earning month, their value, the liability over time, and breakage."""
    program = get_program(db.session)
    by_merchant = liability_services.outstanding_by_merchant(db.session)
    names = dict(
        db.session.execute(
            db.select(Merchant.id, Merchant.name).where(Merchant.id.in_([o.key for o in by_merchant if o.key]))
        ).all()
    )
    flows = liability_services.monthly_flows(db.session)
    breakage = liability_services.estimate_breakage(db.session)
    months = [f.month for f in flows]
    cohort_months = [c.month for c in breakage.cohorts]
    charts_ = {
        "flows": charts.bars(
            "Points earned and burned per month",
            "Bars per month: points earned (blue), redeemed (orange) and expired (grey).",
            months,
            [
                ("earned", [f.earned for f in flows]),
                ("burned", [f.redeemed for f in flows]),
                ("expired", [f.expired for f in flows]),
            ],
        ),
        "liability": charts.line(
            "Liability over time",
            "The members' points outstanding at the end of each month.",
            months,
            [("liability", [f.liability for f in flows])],
        ),
        "breakage": charts.bars(
            "Breakage by earning month",
            "Per earning month: points still outstanding (blue) and those expected to expire unspent (grey).",
            cohort_months,
            [
                ("liability", [c.outstanding for c in breakage.cohorts]),
                ("breakage", [c.expected_breakage for c in breakage.cohorts]),
            ],
        ),
    }
    return render(
        "liability.html",
        program=program,
        by_merchant=by_merchant,
        names=names,
        by_month=liability_services.outstanding_by_month(db.session),
        flows=flows,
        breakage=breakage,
        charts=charts_,
    )
