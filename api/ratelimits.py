"""Rate limits on the API's exposed operations, counted per client address, key or member.

Each answers 429 ``rate_limited`` with ``Retry-After`` past its limit (see
``web.security``); the limits are settings (``RATE_LIMIT_*``, README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps

from flask import request
from werkzeug.exceptions import HTTPException

from loyalty.errors import LoyaltyError
from web import security

AUTH_FAILURES = "RATE_LIMIT_API_AUTH_FAILURES"
_AUTH_SCOPE = "api-auth-failures"
_AUTH_MESSAGE = "Too many failed API key attempts from this address; try again after Retry-After seconds."


def client_address() -> str:
    """The client's address (the one forwarded by trusted proxies, PROXY_HOPS)."""
    return request.remote_addr or "unknown"


def count_auth_failure() -> None:
    """Count a failed key authentication of this address; 429 once it has failed too often lately."""
    security.hit_limit(AUTH_FAILURES, _AUTH_SCOPE, client_address(), _AUTH_MESSAGE)


def document_429(wrapper: Callable) -> None:
    """Name the 429 answer in the operation's OpenAPI entry."""
    wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    responses = wrapper._apidoc.setdefault("manual_doc", {}).setdefault("responses", {})
    responses.setdefault("429", {"$ref": "#/components/responses/Error"})


def _failed(exc: BaseException) -> bool:
    if isinstance(exc, LoyaltyError):
        return True
    return isinstance(exc, HTTPException) and exc.code is not None and 400 <= exc.code < 500 and exc.code != 429


def limited(
    setting: str,
    scope: str,
    key: Callable[[dict], str | None],
    message: str,
    *,
    failures_only: bool = False,
) -> Callable:
    """Limit a view by ``key(view kwargs)`` (None: not limited): every call, or only the calls that fail."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            who = key(kwargs)
            if who is None:
                return view(*args, **kwargs)
            if not failures_only:
                security.hit_limit(setting, scope, who, message)
                return view(*args, **kwargs)
            security.refuse_if_over(setting, scope, who, message)
            try:
                return view(*args, **kwargs)
            except (LoyaltyError, HTTPException) as exc:
                if _failed(exc):
                    security.hit_limit(setting, scope, who)
                raise

        document_429(wrapper)
        return wrapper

    return decorate
