"""Schema building blocks shared by every resource."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from datetime import datetime

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import isoformat_z
from loyalty.pagination import DEFAULT_LIMIT, MAX_LIMIT
from loyalty.text import has_control_characters


class StrictInteger(fields.Integer):
    """An integer that must be a JSON integer: never a float, a string or a boolean."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``; never ``"yes"``, ``1`` or ``"on"``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def Points(**kwargs) -> StrictInteger:
    return StrictInteger(validate=validate.Range(min=0), **kwargs)


class Timestamp(fields.AwareDateTime):
    """ISO 8601 with an offset on the way in; UTC with ``Z`` on the way out."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("Timestamp expects a datetime")
        return isoformat_z(value)


def _holds_control_characters(value) -> bool:
    if isinstance(value, str):
        return has_control_characters(value, multiline=True)
    if isinstance(value, Mapping):
        return any(_holds_control_characters(k) or _holds_control_characters(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return any(_holds_control_characters(item) for item in value)
    return False


def no_control_characters(value) -> None:
    """No NUL (PostgreSQL cannot store one) or other control character in any text of a field's value."""
    if _holds_control_characters(value):
        raise ma.ValidationError("Contains control characters.")


class Schema(ma.Schema):
    """Base schema of every body and query: unknown fields are an error, not silently
    dropped, and no text holds control characters (tab and line breaks are text; which
    fields must be one line is the domain's call)."""

    class Meta:
        unknown = ma.RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        if _checks_its_own_fields(field_obj):
            return
        # A new list: the bound field is a shallow copy sharing its validators with the declared one.
        field_obj.validators = [*field_obj.validators, no_control_characters]


def _checks_its_own_fields(field: fields.Field) -> bool:
    """A nested schema (or a list of them) of this base class checks each of its fields itself.

    Checking the nested value as a whole as well walked every text of a sale's
    items twice over.
    """
    if isinstance(field, fields.List):
        field = field.inner
    if not isinstance(field, fields.Nested):
        return False
    nested = field.nested
    return isinstance(nested, Schema) or (isinstance(nested, type) and issubclass(nested, Schema))


class PageArgs(Schema):
    """``?limit=&cursor=`` of every list (query strings carry numbers as text)."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Items per page (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT})."},
    )
    cursor = fields.String(load_default=None, metadata={"description": "The next_cursor of the previous page."})


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """``{items: [...], next_cursor}`` for a given item schema."""
    return type(
        name,
        (ma.Schema,),
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
    )


def page_body(page) -> dict:
    return {"items": page.items, "next_cursor": page.next_cursor}


class ErrorEnvelope(ma.Schema):
    """The one shape of every error."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    status = fields.String(required=True, metadata={"description": "The HTTP status phrase."})
    message = fields.String(required=True, metadata={"description": "A human sentence."})
    reason = fields.String(required=True, metadata={"description": "A stable snake_case code."})
    errors = fields.Dict(metadata={"description": "Errors by field, when the input was at fault."})
