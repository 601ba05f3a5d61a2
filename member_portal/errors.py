"""Error pages of the portal: HTML in the member's language, never the API's JSON."""

from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from loyalty import errors as domain
from member_portal import bp


@bp.errorhandler(CSRFError)
def _csrf(error):
    return render_template("portal/error.html", status=400, problem="csrf"), 400


@bp.errorhandler(domain.NotFound)
def _domain_not_found(error):
    return render_template("portal/error.html", status=404, problem="not_found"), 404


@bp.errorhandler(HTTPException)
def _http(error: HTTPException):
    status = error.code or 500
    problem = {404: "not_found", 429: "too_many", 405: "not_found"}.get(status, "other")
    return render_template("portal/error.html", status=status, problem=problem), status


@bp.get("/<path:_anything>")
def _nothing_here(_anything: str):
    """Any other address under the portal: its own "nothing here" page, not the API's JSON."""
    return render_template("portal/error.html", status=404, problem="not_found"), 404
