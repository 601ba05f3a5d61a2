"""The one error envelope, and the mapping of domain errors to HTTP statuses.

Every error the service answers, wherever it comes from (a domain error, a
validation failure, an unknown route, a malformed body, a crash), has the shape
``{code, status, message, reason, errors?}``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from sqlalchemy import exc as sa_errors
from werkzeug.exceptions import HTTPException, InternalServerError

from loyalty import errors as domain
from web.requestlog import current_request_id

log = logging.getLogger(__name__)

# Order matters: the first class that matches wins, so subclasses come first.
STATUS_BY_ERROR: list[tuple[type[domain.LoyaltyError], int]] = [
    (domain.Unauthenticated, 401),
    (domain.Forbidden, 403),
    (domain.NotFound, 404),
    (domain.Conflict, 409),
    (domain.ValidationFailed, 422),
]

REASON_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

FIELD_ERRORS_MESSAGE = "The request is not valid: see errors for each field."

DEFAULT_MESSAGES = {
    401: "A valid API key is required (Authorization: Bearer <key>).",
    403: "This key may not do that.",
    404: "There is nothing here.",
    405: "That method is not allowed on this resource.",
    422: "The request is not valid.",
}


def error_body(status: int, reason: str, message: str, errors: dict | None = None) -> dict:
    """The envelope's content, for answers that carry errors inside a body (a batch's results)."""
    body = {
        "code": status,
        "status": HTTPStatus(status).phrase,
        "message": message,
        "reason": reason,
    }
    if errors:
        body["errors"] = errors
    return body


def envelope(status: int, reason: str, message: str, errors: dict | None = None, headers=None):
    response = jsonify(error_body(status, reason, message, errors))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def server_error_message() -> str:
    """What a 5xx says: nothing of the cause, the request id to quote."""
    return f"Something went wrong on our side. Quote request id {current_request_id()} when reporting it."


def status_for(error: domain.LoyaltyError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def domain_error_body(error: domain.LoyaltyError) -> dict:
    """The envelope's content for a domain error, as ``handle_domain_error`` answers it."""
    return error_body(status_for(error), error.reason, error.message, error.errors)


def handle_domain_error(error: domain.LoyaltyError):
    status = status_for(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return envelope(status, error.reason, error.message, error.errors, headers)


def _flatten(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}}); clients want the fields."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    reason = data.get("reason") or REASON_BY_STATUS.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    message = data.get("message") or DEFAULT_MESSAGES.get(status) or error.description or HTTPStatus(status).phrase
    errors = data.get("errors")
    if errors is None and "messages" in data:
        errors = _flatten(data["messages"])
    if (
        status == 400
        and errors
        and any("Invalid JSON body." in (v if isinstance(v, list) else [v]) for v in errors.values())
    ):
        reason, message, errors = "malformed_json", "The request body is not valid JSON.", None
    if status == 422 and errors is not None:
        message = data.get("message") or FIELD_ERRORS_MESSAGE
    if status >= 500:
        message = server_error_message()
    headers = dict(data.get("headers") or {})
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return envelope(status, reason, message, errors, headers)


UNAVAILABLE_RETRY_AFTER = "5"


def database_unavailable(error: Exception) -> bool:
    """The database cannot be reached (down, restarting, failing over) or has no connection to spare."""
    if isinstance(error, sa_errors.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa_errors.OperationalError, sa_errors.TimeoutError, sa_errors.DisconnectionError))


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if database_unavailable(error):
        # Nothing was committed (or, if the connection broke during the commit, a retry is
        # answered from what was): the client may send the same request again.
        log.warning("database unavailable in request %s: %s", current_request_id(), type(error).__name__)
        return envelope(
            503,
            "unavailable",
            f"The service cannot reach its database for a moment; try again. Request id {current_request_id()}.",
            headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
        )
    log.exception("unhandled error in request %s", current_request_id())
    return handle_http_exception(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(domain.LoyaltyError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
