from __future__ import annotations

import csv
import io

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import PageArgs, page_body
from api.statements.schemas import StatementPage, StatementSchema
from loyalty.actors import Role
from loyalty.settlement import reading as statements
from web.extensions import db

blp = Blueprint(
    "statements",
    __name__,
    url_prefix="",
    description=(
        "Monthly settlement statements of a merchant, closed by a daily job the day after a month ends (in the "
        "program's timezone) and never changed after: points issued at its stores by funder (its own rules, the "
        "operator's), points redeemed there, the prices in force, the amounts each way and the net. An entry "
        "written after a statement was closed (a late return) is counted in the next one."
    ),
)


@blp.route("/merchants/<merchant_id>/statements")
class MerchantStatementsView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, StatementPage)
    def get(self, args, merchant_id):
        """List a merchant's statements, newest first. A merchant key lists only its own."""
        return page_body(statements.list_statements(db.session, merchant_id=merchant_id, **args, actor=current_actor()))


@blp.route("/statements/<statement_id>")
class StatementView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, StatementSchema)
    def get(self, statement_id):
        """Read a statement's totals. A merchant key reads only its own; its lines are in the CSV."""
        return statements.get_statement(db.session, statement_id, actor=current_actor())


def statement_csv(statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in statements.csv_rows(db.session, statement):
        writer.writerow(row)
    return out.getvalue()


@blp.route("/statements/<statement_id>.csv")
class StatementCsvView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(
        200,
        description="A row per ledger entry counted (entry id, time, kind, purchase or redemption, merchant's "
        "points, operator's points, points redeemed), then the totals and the amounts.",
        content_type="text/csv",
    )
    def get(self, statement_id):
        """Download a statement with its lines as CSV. A merchant key reads only its own."""
        statement = statements.get_statement(db.session, statement_id, actor=current_actor())
        name = f"statement-{statement.merchant_id}-{statement.period_start:%Y-%m}.csv"
        return Response(
            statement_csv(statement),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
