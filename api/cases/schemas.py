from marshmallow import fields, validate

from api.common import PageArgs, Schema, StrictInteger, Timestamp, page_schema
from loyalty.cases.classify import PRIORITIES
from loyalty.cases.services import MAX_CASE_POINTS, MAX_REF, MAX_SUBJECT, MAX_TEXT, SOURCES, STATUSES

_POINTS = validate.Range(min=1, max=MAX_CASE_POINTS)


class CaseNoteSchema(Schema):
    id = StrictInteger()
    case_id = fields.String(allow_none=True)
    body = fields.String()
    author_kind = fields.String(
        metadata={"description": "`staff` (console), `key` (API), `cli`, or `system` (the classification)."}
    )
    author_name = fields.String()
    created_at = Timestamp()


class CaseSchema(Schema):
    id = fields.String()
    member_id = fields.String()
    kind = fields.String(metadata={"description": "`missing_points`."})
    source = fields.String(
        validate=validate.OneOf(SOURCES),
        metadata={"description": "Who reported: the member (portal), a cashier (terminal or merchant), or staff."},
    )
    priority = fields.String(
        validate=validate.OneOf(PRIORITIES),
        metadata={"description": "Set when the case is opened by the documented rules (docs/timeline-and-cases.md)."},
    )
    status = fields.String(validate=validate.OneOf(STATUSES))
    subject = fields.String()
    description = fields.String(allow_none=True)
    merchant_id = fields.String(allow_none=True)
    store_id = fields.String(allow_none=True)
    purchase_id = fields.String(allow_none=True, metadata={"description": "The purchase, when the service has it."})
    receipt_ref = fields.String(allow_none=True, metadata={"description": "The receipt number the reporter gave."})
    occurred_on = Timestamp(allow_none=True, metadata={"description": "When the purchase was made, if known."})
    points_claimed = StrictInteger(allow_none=True)
    points_granted = StrictInteger(allow_none=True, metadata={"description": "Credited when resolved."})
    adjustment_id = fields.String(
        allow_none=True, metadata={"description": "The adjustment that credited the points (`member.adjust`)."}
    )
    resolution = fields.String(allow_none=True, metadata={"description": "The reason given to resolve or reject."})
    opened_by_kind = fields.String()
    opened_by_name = fields.String()
    resolved_by_name = fields.String(allow_none=True)
    opened_at = Timestamp()
    resolved_at = Timestamp(allow_none=True)
    updated_at = Timestamp()


class CaseDetailSchema(CaseSchema):
    notes = fields.List(
        fields.Nested(CaseNoteSchema),
        metadata={"description": "Oldest first; empty for merchant and terminal keys (staff notes are internal)."},
    )


class CaseCreateSchema(Schema):
    subject = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_SUBJECT),
        metadata={"description": "Default: `Missing points: receipt <receipt_ref>`."},
    )
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_TEXT))
    purchase_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The purchase the points are missing from; a till's must be of its store."},
    )
    receipt_ref = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_REF),
        metadata={
            "description": "The receipt number. From a till or a merchant key, its own `external_id` links the "
            "purchase when the service has it; a receipt it never received still opens a case."
        },
    )
    store_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Where it was bought (a terminal's own store is taken)."},
    )
    occurred_on = Timestamp(
        load_default=None, allow_none=True, metadata={"description": "When it was bought (the purchase's, if linked)."}
    )
    points_claimed = StrictInteger(load_default=None, allow_none=True, validate=_POINTS)


class CaseNoteCreateSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class CaseResolveSchema(Schema):
    points = StrictInteger(required=True, validate=_POINTS, metadata={"description": "Points to credit."})
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Why: in the adjustment's note, the audit log and the message to the member."},
    )


class CaseRejectSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Why: told to the member."},
    )


class CaseListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))
    member_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


CasePage = page_schema(CaseSchema, "CasePage")


def case_body(case, notes=None) -> dict:
    body = {name: getattr(case, name) for name in CaseSchema._declared_fields}
    if notes is not None:
        body["notes"] = notes
    return body
