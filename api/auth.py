"""Bearer keys, roles and signed terminal requests."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps

from flask import g, request
from flask_smorest.utils import load_info_from_docstring

from api import ratelimits
from loyalty.actors import PUBLIC, Actor, Role
from loyalty.credentials import load_credentials
from loyalty.errors import Forbidden, NotFound, Unauthenticated
from loyalty.keys.services import actor_for_key
from loyalty.merchants.signing import check_terminal_request
from loyalty.text import usable_id
from web.extensions import db
from web.http import path_with_query
from web.requestlog import ACTOR_ENVIRON_KEY

_ACTOR_KEY = ACTOR_ENVIRON_KEY  # per request, never in g (an app context can outlive a request)
ALL_ROLES = (Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)


def authenticate_request() -> Actor:
    """The actor behind this request's key; raises ``Unauthenticated`` otherwise."""
    cached = request.environ.get(_ACTOR_KEY)
    if cached is not None:
        return cached
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("A valid API key is required (Authorization: Bearer <key>).")
    try:
        actor = _authenticate(secret.strip())
    except Unauthenticated:
        # Counted, and past the limit answered 429 instead of 401. A key that works is never
        # held up: keys and signing secrets are 256 random bits, out of reach of guessing, so
        # the limit guards the service against floods of bad keys, and costs the requests
        # with a good key (every purchase) nothing.
        ratelimits.count_auth_failure()
        raise
    request.environ[_ACTOR_KEY] = actor
    return actor


def _authenticate(secret: str) -> Actor:
    credentials = load_credentials(db.session, secret)
    if credentials is None:
        raise Unauthenticated("The API key is not valid or has been revoked.")
    key = credentials.key
    if key.role == Role.TERMINAL.value:
        if not key.terminal_id:
            raise Unauthenticated("This terminal key is not bound to a terminal.")
        check_terminal_request(
            terminal_status=credentials.terminal_status,
            merchant_status=credentials.merchant_status,
            require_signed=credentials.require_signed_requests,
            secrets_encrypted=credentials.signing_secrets,
            timestamp=request.headers.get("X-Loyalty-Timestamp"),
            signature=request.headers.get("X-Loyalty-Signature"),
            method=request.method,
            path_with_query=path_with_query(),
            body=request.get_data(cache=True),
        )
    elif key.role == Role.MERCHANT.value and credentials.merchant_status not in (None, "active"):
        raise Forbidden("The merchant is suspended; its keys are refused until it is reactivated.")
    if credentials.touched:
        # The key's last use, on its own: a read-only request never commits, and the row lock the
        # UPDATE takes would otherwise queue the key's other requests until this one ends.
        db.session.commit()
    return actor_for_key(key, request_id=g.get("request_id"))


def _check_path_ids(kwargs: dict) -> None:
    # The path's ids: one that could never be ours (a NUL, non-ASCII, far too long) names nothing.
    if not all(usable_id(value) for value in kwargs.values() if isinstance(value, str)):
        raise NotFound("There is nothing here.")


def _document(wrapper: Callable, allowed: tuple[Role, ...], *, public: bool) -> None:
    """The security requirement and the roles, in the OpenAPI document."""
    wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    manual = wrapper._apidoc.setdefault("manual_doc", {})
    # ``{}`` first: a key is optional.
    manual["security"] = [{}, {"bearerAuth": []}] if public else [{"bearerAuth": []}]
    manual["x-roles"] = [r.value for r in allowed]
    names = ", ".join(r.value for r in allowed)
    # The manual description replaces the docstring's: keep the docstring's body in it.
    manual.setdefault("description", load_info_from_docstring(wrapper.__doc__ or "").get("description", ""))
    suffix = f"Open to anyone without a key; with a key, roles: {names}." if public else f"Roles: {names}."
    manual["description"] = (manual["description"] + f"\n\n{suffix}").strip()


def requires(*roles: Role) -> Callable:
    """Allow a view to the given roles only (all roles when none are named)."""
    allowed = roles or ALL_ROLES

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = authenticate_request()
            if actor.role not in allowed:
                raise Forbidden(f"A {actor.role.value} key may not do that.")
            _check_path_ids(kwargs)
            return view(*args, **kwargs)

        _document(wrapper, allowed, public=False)
        return wrapper

    return decorate


def public_or(*roles: Role) -> Callable:
    """Open without a key (the actor is ``PUBLIC``); a key that is sent must be valid and of one of the roles."""
    allowed = roles or ALL_ROLES

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if "Authorization" in request.headers:
                actor = authenticate_request()
                if actor.role not in allowed:
                    raise Forbidden(f"A {actor.role.value} key may not do that.")
            else:
                request.environ[_ACTOR_KEY] = PUBLIC
            _check_path_ids(kwargs)
            return view(*args, **kwargs)

        _document(wrapper, allowed, public=True)
        return wrapper

    return decorate


def current_actor() -> Actor:
    """The authenticated actor of this request (set by ``requires``)."""
    return request.environ[_ACTOR_KEY]


def ensure_visible(merchant_id: str | None, actor: Actor | None = None) -> None:
    """Another merchant's object is answered as not found, never as forbidden."""
    actor = actor or current_actor()
    if not actor.sees_merchant(merchant_id):
        raise NotFound("There is nothing here.")
