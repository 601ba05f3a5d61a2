"""Request details shared by the API and the webhook receivers."""

from __future__ import annotations

from flask import request


def path_with_query() -> str:
    """The path and raw query string exactly as the client sent them (what a signature covers)."""
    path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if path:
        # gunicorn gives RAW_URI; drop a scheme and host if a proxy sent an absolute URI.
        if "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")
