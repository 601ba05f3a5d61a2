from marshmallow import fields, validate

from api.common import PageArgs, Schema, Timestamp, page_schema
from loyalty.timeline.queries import KINDS

_DETAIL = (
    "What happened, by kind (timestamps in `detail` are ISO 8601 UTC):\n"
    "- `purchase`: `{external_id, merchant_name, store_name, total_minor, returned_minor, currency, points_awarded, "
    "points_reversed, claimed}`; `at` is when it was bought.\n"
    "- `points`: a ledger entry, `{entry_kind (earn, return, redeem, redeem_cancel, expire, adjust, claim), points, "
    "balance_after, available_at, expires_at, note (the reason), breakdown: [{rule_id, rule_name, points}], "
    "merchant_name, store_name, actor_name}`.\n"
    "- `redemption`: `{redemption_kind (reward, points), status, points, reward_id, reward_name, value_minor, "
    "currency, used_at, cancelled_at}`.\n"
    "- `tier_change`: `{from_tier, to_tier, direction (up, down), qualifying_points, at_review}`.\n"
    "- `stage_change`: `{from_stage, to_stage, run_id}` (lifecycle stages).\n"
    "- `contact`: a campaign message, `{channel, campaign_name, notification_id}`.\n"
    "- `claim`: a receipt claimed after a purchase without the card, `{external_id, merchant_name, store_name, "
    "points, occurred_at}`; `at` is when it was claimed.\n"
    "- `case`: a service case, `{subject, status, priority, source, receipt_ref, points_claimed, points_granted, "
    "resolution, resolved_at, opened_by_name}`; `at` is when it was opened.\n"
    "- `note`: a service note, `{body, author_kind, author_name}`."
)


class TimelineItemSchema(Schema):
    id = fields.String(metadata={"description": "`<kind>:<id of the row>`, unique in the timeline."})
    kind = fields.String(validate=validate.OneOf(KINDS))
    at = Timestamp(metadata={"description": "When it happened."})
    title = fields.String(metadata={"description": "One line for people, in English."})
    detail = fields.Dict(metadata={"description": _DETAIL})
    purchase_id = fields.String(allow_none=True)
    merchant_id = fields.String(allow_none=True)
    store_id = fields.String(allow_none=True)
    entry_id = fields.String(allow_none=True, metadata={"description": "The ledger entry (`points`)."})
    redemption_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)


class TimelineArgs(PageArgs):
    kinds = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": f"Comma-separated kinds to show (default all): {', '.join(KINDS)}."},
    )


TimelinePage = page_schema(TimelineItemSchema, "TimelinePage")
