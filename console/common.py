"""What every console page shares: the blueprint, who is signed in, roles, errors, paging and forms."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, g, render_template, request
from werkzeug.exceptions import HTTPException

from loyalty.actors import Actor
from loyalty.errors import Conflict, Forbidden, LoyaltyError, NotFound, ValidationFailed
from loyalty.pagination import MAX_LIMIT
from loyalty.staff.models import StaffUser
from loyalty.staff.services import actor_for_staff, load_signed_in
from web.extensions import db
from web.security import login_required

KIND = "staff"
PAGE_SIZE = 25

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _load(account_id: str, version: int) -> StaffUser | None:
    return load_signed_in(db.session, account_id, version)


_signed_in = login_required(KIND, _load, login_endpoint="console.login", g_name="staff")


def staff_required(*roles: str) -> Callable:
    """The view needs a signed-in staff member of one of ``roles`` (any role when none are named).

    Another role gets 403; ``g.staff`` is the account and ``g.actor`` the actor
    services are called with.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args, **kwargs):
            if roles and g.staff.role not in roles:
                abort(403)
            g.actor = actor_for_staff(g.staff, request_id=g.get("request_id"))
            return view(*args, **kwargs)

        return _signed_in(checked)

    return decorate


def actor() -> Actor:
    return g.actor


def page_args() -> tuple[int, str | None]:
    """``limit`` and ``cursor`` of a list page, from the query string."""
    try:
        limit = min(max(int(request.args.get("limit", PAGE_SIZE)), 1), MAX_LIMIT)
    except ValueError:
        limit = PAGE_SIZE
    return limit, request.args.get("cursor") or None


def text_arg(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    return value[:200] or None


def field_errors(error: LoyaltyError) -> dict[str, list[str]]:
    """A domain error's messages by form field (``_form`` for the ones about the whole form)."""
    errors: dict[str, list[str]] = {}
    raw = error.errors or {}
    if isinstance(raw.get("field"), str) and "message" in raw:
        # A rule's error names one field, and where in the condition it is.
        where = f" (line {raw['line']}, column {raw['column']})" if raw.get("line") and raw.get("column") else ""
        return {raw["field"]: [f"{raw['message']}{where}"]}
    for field, messages in raw.items():
        if isinstance(messages, dict):
            for sub, nested in messages.items():
                errors.setdefault(f"{field}.{sub}", []).extend(_as_list(nested))
        else:
            errors.setdefault(str(field), []).extend(_as_list(messages))
    return errors


def _as_list(messages: Any) -> list[str]:
    return [str(m) for m in messages] if isinstance(messages, list | tuple) else [str(messages)]


def render(template: str, code: int = 200, /, **context: Any):
    """A console template with an HTTP status (``code``, positional: ``status`` may be a page's own variable)."""
    return render_template(f"console/{template}", **context), code


@bp.errorhandler(NotFound)
def _not_found(error: NotFound):
    db.session.rollback()
    return render("error.html", 404, title="Not found", message=error.message)


@bp.errorhandler(Forbidden)
def _forbidden(error: Forbidden):
    db.session.rollback()
    return render("error.html", 403, title="Not allowed", message=error.message)


@bp.errorhandler(ValidationFailed)
@bp.errorhandler(Conflict)
def _refused(error: LoyaltyError):
    db.session.rollback()
    return render(
        "error.html", 422 if isinstance(error, ValidationFailed) else 409, title="Not done", message=error.message
    )


@bp.errorhandler(HTTPException)
def _http(error: HTTPException):
    titles = {403: "Not allowed", 404: "Not found", 429: "Too many attempts"}
    return render(
        "error.html", error.code or 500, title=titles.get(error.code or 0, error.name), message=error.description
    )


@bp.app_template_filter("when")
def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@bp.app_template_filter("console_points")  # "points" is the portal's, in the member's language
def _points(value) -> str:
    return f"{int(value or 0):,}".replace(",", "\u2009")


@bp.context_processor
def _globals() -> dict[str, Any]:
    staff = g.get("staff")
    return {"staff": staff, "role": staff.role if staff else None}


@bp.app_template_filter("money")
def _money(minor, currency: str) -> str:
    """Minor units as an amount of the currency: 1250 EUR is 12.50 EUR (no floats)."""
    from loyalty.units import minor_digits

    digits = minor_digits(currency)
    sign, value = ("-" if minor < 0 else ""), abs(int(minor))
    if digits == 0:
        return f"{sign}{value} {currency}"
    whole, part = divmod(value, 10**digits)
    return f"{sign}{whole}.{part:0{digits}d} {currency}"
