"""Sign-in for web pages: session cookies, CSRF, login throttling and the login-required check.

Shared by every set of pages that people sign in to (the member portal, a
staff console): each registers its blueprint with ``protect_pages`` and wraps
its views with a ``login_required`` made for its own kind of account.

- The session is Flask's signed cookie: HTTP-only, ``SameSite=Lax``, ``Secure``
  unless ``COOKIE_SECURE=false`` (plain-HTTP development), lasting
  ``SESSION_DAYS``. It holds who is signed in and their account's session
  version; bumping the version (a new password, an erasure) signs out every
  browser at once.
- CSRF (Flask-WTF's ``CSRFProtect``) is checked on every unsafe request to a
  protected blueprint; the JSON API, authenticated by bearer keys, is not one.
- Rate limits (Flask-Limiter) are counted in the application's own Redis,
  whichever one ``loyalty.queue`` is pointed at (the embedded server by
  default); should Redis be down, they are counted in memory meanwhile. The
  same limiter counts the API's limits (``hit_limit``, ``refuse_if_over``): key
  authentication failures, enrolments, claims, merchant applications. Every
  limit is a setting (``RATE_LIMIT_*``), read at each request.
- Security headers on every answer, page or API (``security_headers``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import re
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from loyalty.queue import get_redis

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, key_prefix="loyalty")

_SESSION_KEY = "login"


def skip_limiter_under(app: Flask, prefix: str) -> None:
    """Requests under ``prefix`` skip Flask-Limiter's check before every request.

    That check resolves the limits of the request's view and their exemptions;
    under the JSON API there are none (its limits are counted where they apply,
    by ``hit_limit`` and ``refuse_if_over``, on the same storage), and the
    resolving alone cost about a twentieth of a member look-up's CPU. Its
    ``request_filter`` runs only after most of that work, so the hook itself is
    wrapped. Every other request (the sign-in forms) is checked as before.
    """
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit  # the hook Limiter.init_app registered
    index = hooks.index(check)  # ValueError at start-up should Flask-Limiter register it otherwise

    def check_outside_prefix() -> None:
        if not request.path.startswith(prefix):
            check()

    hooks[index] = check_outside_prefix


# Every sign-in form of any kind of account, from one address, and attempts on one account (failures only):
# the defaults of RATE_LIMIT_SIGN_IN_PER_ADDRESS and RATE_LIMIT_SIGN_IN_PER_ACCOUNT.
PER_ADDRESS = "30 per 10 minutes"
PER_ACCOUNT = "5 per 15 minutes"


class AppRedisStorage(RedisStorage):
    """Flask-Limiter's Redis storage on the application's Redis client (``loyalty.queue.get_redis``).

    The client is looked up at each use, not at start-up: the embedded server
    only starts when something needs it, and a process pointed at another
    Redis (``queue.configure``) counts there from then on.
    """

    STORAGE_SCHEME = ["loyalty+redis"]

    def __init__(self, uri: str, **options: Any) -> None:
        # The parent makes a client from the URI; it never connects, and is not used.
        super().__init__("redis://localhost", **options)
        self._scripts: dict[tuple[int, str], Any] = {}

    def initialize_storage(self, _uri: str) -> None:
        pass

    def get_connection(self, readonly: bool = False):
        return get_redis()

    def _script(self, source: str):
        client = get_redis()
        key = (id(client), source)
        script = self._scripts.get(key)
        if script is None:
            script = self._scripts[key] = client.register_script(source)
        return script

    lua_moving_window = property(lambda self: self._script(self.SCRIPT_MOVING_WINDOW))
    lua_acquire_moving_window = property(lambda self: self._script(self.SCRIPT_ACQUIRE_MOVING_WINDOW))
    lua_clear_keys = property(lambda self: self._script(self.SCRIPT_CLEAR_KEYS))
    lua_incr_expire = property(lambda self: self._script(self.SCRIPT_INCR_EXPIRE))
    lua_sliding_window = property(lambda self: self._script(self.SCRIPT_SLIDING_WINDOW))
    lua_acquire_sliding_window = property(lambda self: self._script(self.SCRIPT_ACQUIRE_SLIDING_WINDOW))


def init_app(app: Flask) -> None:
    """Session cookie settings, CSRF, the rate limiter, and the proxy headers to trust."""
    app.config.update(
        SESSION_COOKIE_NAME="loyalty_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config.get("COOKIE_SECURE", True),
        PERMANENT_SESSION_LIFETIME=timedelta(days=app.config.get("SESSION_DAYS", 14)),
        # Checked only on the blueprints that ask for it (``protect_pages``).
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI="loyalty+redis://",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    hops = int(app.config.get("PROXY_HOPS", 0) or 0)
    if hops:
        # Behind that many proxies, the client's address is the one they forwarded.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = CookieSessionInterface()
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(security_headers)
    app.after_request(_retry_after)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, at no cost to a request that carries no cookie (every API call).

    Flask builds its signing serializer and parses the cookies on every request
    before it looks for the session's; without a ``Cookie`` header the session is
    simply new and empty, as Flask would have found it.
    """

    def open_session(self, app: Flask, request):  # type: ignore[override]
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)


def protect_pages(blueprint: Blueprint) -> None:
    """CSRF on every form of the blueprint, and no caching of someone's own pages.

    The security headers every answer carries (``security_headers``) are set app-wide.
    """
    blueprint.before_request(lambda: csrf.protect())

    @blueprint.after_request
    def _no_store(response):
        if session.get(_SESSION_KEY) or request.method != "GET":
            # Someone's own data: never kept by a shared cache or the browser's back button.
            response.headers["Cache-Control"] = "no-store"
        return response


# ---- security headers -------------------------------------------------------------------------

# Pages: only this site's own scripts, styles and images; no framing, no plugins, forms post here.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Anything else (JSON, SVG, PNG, CSV): nothing may load or run from it, nor frame it.
DOCUMENT_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive API docs (Swagger UI, from this site only): it starts with one inline script, allowed
# by its hash, and styles its elements inline.
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
_DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"


def _docs_policy(response) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(response.get_data())
    )
    return (
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' {hashes}; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


_DEFAULT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


def security_headers(response):
    """The headers every answer carries, page or API; a view may have set a stricter CSP of its own."""
    headers = response.headers
    present = {name.lower() for name, _value in headers}  # one pass: each lookup in Headers is a scan
    for name, value in _DEFAULT_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if "content-security-policy" not in present:
        mimetype = response.mimetype
        if mimetype == "text/html" and request.endpoint == _DOCS_ENDPOINT and not response.is_streamed:
            headers.add("Content-Security-Policy", _docs_policy(response))
        else:
            headers.add("Content-Security-Policy", PAGE_POLICY if mimetype == "text/html" else DOCUMENT_POLICY)
    max_age = int(current_app.config.get("HSTS_MAX_AGE", 0) or 0)
    if max_age > 0 and request.is_secure:
        # Only over HTTPS (behind a proxy: PROXY_HOPS makes its X-Forwarded-Proto count).
        headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    return response


# ---- API rate limits --------------------------------------------------------------------------

# Counted on the same storage as Flask-Limiter's own limits; this one only while that storage fails.
_memory_fallback = FixedWindowRateLimiter(MemoryStorage())


class RateLimited(TooManyRequests):
    """A 429 with the error envelope's ``rate_limited`` and a ``Retry-After`` in seconds."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(description=message)
        self.data = {"reason": "rate_limited", "message": message, "headers": {"Retry-After": str(retry_after)}}


def _items(setting: str) -> list[RateLimitItem]:
    return parse_many(current_app.config[setting])


def _on_storage(operation: Callable[[Any], Any]) -> Any:
    try:
        return operation(limiter.limiter)
    except (RedisError, OSError):  # the storage is down: count in this process meanwhile, as Flask-Limiter does
        return operation(_memory_fallback)


def _wait(item: RateLimitItem, scope: str, key: str) -> int:
    reset_at, _remaining = _on_storage(lambda s: s.get_window_stats(item, "loyalty", scope, key))
    return max(1, math.ceil(reset_at - time.time()))


def seconds_to_wait(setting: str, scope: str, key: str) -> int | None:
    """Seconds before ``key`` may try again under the limits of ``setting``, or None while under them."""
    for item in _items(setting):
        if not _on_storage(lambda s, item=item: s.test(item, "loyalty", scope, key)):
            return _wait(item, scope, key)
    return None


def refuse_if_over(setting: str, scope: str, key: str, message: str) -> None:
    """Raise ``RateLimited`` when ``key`` has used up a limit of ``setting``; count nothing."""
    wait = seconds_to_wait(setting, scope, key)
    if wait is not None:
        raise RateLimited(wait, message)


def hit_limit(setting: str, scope: str, key: str, message: str | None = None) -> None:
    """Count one against each limit of ``setting`` for ``key``; with a message, refuse (429) past any of them."""
    for item in _items(setting):
        allowed = _on_storage(lambda s, item=item: s.hit(item, "loyalty", scope, key))
        if not allowed and message is not None:
            raise RateLimited(_wait(item, scope, key), message)


def _retry_after(response):
    # Flask-Limiter's own 429s (the sign-in forms) say when to come back, as the API's do.
    if response.status_code == 429 and "Retry-After" not in response.headers:
        current = limiter.current_limit
        if current is not None:
            # When the storage is down, the 429 stands without it.
            with contextlib.suppress(RedisError, OSError):
                response.headers["Retry-After"] = str(max(1, math.ceil(current.reset_at - time.time())))
    return response


# ---- the signed-in session --------------------------------------------------------------------


def start_login_session(kind: str, account_id: str, version: int) -> None:
    """Sign someone in: a fresh session (nothing carried over from before) naming the account."""
    session.clear()
    session.permanent = True
    session[_SESSION_KEY] = {"kind": kind, "id": account_id, "v": version}


def end_login_session() -> None:
    """Sign out: the whole session goes, its CSRF token with it."""
    session.clear()


def signed_in(kind: str) -> tuple[str, int] | None:
    """``(account id, session version)`` of whoever of that kind this session signed in, or None."""
    login = session.get(_SESSION_KEY)
    if not isinstance(login, dict) or login.get("kind") != kind:
        return None
    account_id, version = login.get("id"), login.get("v")
    if not isinstance(account_id, str) or not isinstance(version, int):
        return None
    return account_id, version


def login_required(
    kind: str, load: Callable[[str, int], Any], *, login_endpoint: str, g_name: str
) -> Callable[[Callable], Callable]:
    """A decorator: the view runs with ``g.<g_name>`` set to the signed-in account, else goes to log in.

    ``load(account_id, version)`` returns the account, or None when it is gone
    or its session version has moved on (then the session ends).
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            who = signed_in(kind)
            account = load(*who) if who else None
            if account is None:
                if who:
                    end_login_session()
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for(login_endpoint, next=safe_next(target)))
            setattr(g, g_name, account)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def safe_next(target: str | None) -> str | None:
    """A path on this site to go back to after signing in; anything else (another host) is dropped."""
    if not target or not isinstance(target, str):
        return None
    target = target.rstrip("?")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


# ---- throttling -------------------------------------------------------------------------------


def throttle_sign_in(account: Callable[[], str | None], *, failed: Callable[[Any], bool]) -> Callable:
    """Limit a sign-in form's POSTs: ``PER_ADDRESS`` from one address, ``PER_ACCOUNT`` failures on one account.

    ``account()`` names the account the request tries (``loyalty.logins``'s
    ``account_key``), or None when it names none (only the address is limited
    then); ``failed(response)`` tells a failed attempt.
    Over either limit the request is refused with 429 before the view runs.
    """

    def account_key() -> str:
        return f"account:{account()}"

    def decorate(view: Callable) -> Callable:
        limited = limiter.limit(
            lambda: current_app.config.get("RATE_LIMIT_SIGN_IN_PER_ACCOUNT") or PER_ACCOUNT,
            key_func=account_key,
            methods=["POST"],
            deduct_when=failed,
            exempt_when=lambda: account() is None,
        )(view)
        return limiter.limit(
            lambda: current_app.config.get("RATE_LIMIT_SIGN_IN_PER_ADDRESS") or PER_ADDRESS,
            methods=["POST"],
            scope="sign-in",
        )(limited)

    return decorate
