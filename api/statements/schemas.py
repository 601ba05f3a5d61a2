from __future__ import annotations

from marshmallow import fields

from api.common import Schema, Timestamp, page_schema


class StatementSchema(Schema):
    """A merchant's closed monthly statement: points by funder, points redeemed, and the money each way."""

    id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    period_start = fields.Date(required=True, metadata={"description": "The first day of the month settled."})
    period_end = fields.Date(required=True, metadata={"description": "The first day after it."})
    starts_at = Timestamp(required=True, metadata={"description": "The month's start in the program's timezone."})
    ends_at = Timestamp(required=True)
    currency = fields.String(required=True)
    merchant_points = fields.Integer(
        required=True, metadata={"description": "Points of the merchant's own rules, net of returns."}
    )
    operator_points = fields.Integer(
        required=True, metadata={"description": "Points of the operator's rules issued at its stores, net of returns."}
    )
    redeemed_points = fields.Integer(required=True, metadata={"description": "Points redeemed at its stores, net."})
    issue_price_minor = fields.Integer(required=True)
    issue_per_points = fields.Integer(required=True)
    redeem_price_minor = fields.Integer(required=True)
    redeem_per_points = fields.Integer(required=True)
    issued_amount_minor = fields.Integer(
        required=True, metadata={"description": "What the merchant owes for its points."}
    )
    redeemed_amount_minor = fields.Integer(
        required=True, metadata={"description": "What the operator owes for the points redeemed."}
    )
    prepaid_points = fields.Integer(required=True, metadata={"description": "Prepaid points bought this month."})
    prepaid_amount_minor = fields.Integer(required=True, metadata={"description": "What was paid for them."})
    net_minor = fields.Integer(
        required=True,
        metadata={"description": "issued - redeemed - prepaid: positive, the merchant owes the operator."},
    )
    line_count = fields.Integer(required=True, metadata={"description": "Ledger entries counted."})
    closed_at = Timestamp(required=True)


StatementPage = page_schema(StatementSchema, "StatementPage")
