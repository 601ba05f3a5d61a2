"""Settings from the environment. See the configuration table in README.md."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _with_driver(url: str) -> str:
    # psycopg 3 is the driver for PostgreSQL; accept the common spellings.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path / 'loyalty.db'}"
    return _with_driver(url)


def _analytics_binds() -> dict:
    # A read replica for reports and monitoring; unset, they read the primary like everything else.
    url = os.environ.get("ANALYTICS_DATABASE_URL", "").strip()
    return {"analytics": _with_driver(url)} if url else {}


def _secret_key(instance_path: Path) -> str:
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    # The one-command default keeps a generated key in the instance folder so
    # sessions and encrypted secrets survive restarts.
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:  # also refuses nan
        raise ValueError(f"{name} must be a number of seconds, 0 or more, not {value!r}")
    return number


def _text(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _limit(name: str, default: str) -> str:
    """A rate limit such as ``30 per 5 minutes`` (several joined with ``;``), refused at start-up when malformed."""
    from limits import parse_many

    value = _text(name, default)
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{name} must read like '30 per 5 minutes', not {value!r}") from None
    return value


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def load(instance_path: Path) -> dict:
    instance_path.mkdir(parents=True, exist_ok=True)
    return {
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "SQLALCHEMY_BINDS": _analytics_binds(),
        # hide_parameters: SQL logged at DEBUG, and database errors, never show the values (emails, card numbers).
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
        # A pooled connection idle this long is pinged before use (loyalty.db.configure_engine).
        "DATABASE_PING_AFTER_IDLE_SECONDS": _float("DATABASE_PING_AFTER_IDLE_SECONDS", 5.0),
        # Each web process keeps the API keys it has seen, emptied by PostgreSQL notifications
        # (loyalty.credentials_cache); off, every request reads its key from the database.
        "CREDENTIALS_CACHE": _bool("CREDENTIALS_CACHE", True),
        # Where that listener connects: the primary itself when DATABASE_URL is a pooler in transaction mode.
        "CREDENTIALS_LISTEN_URL": _with_driver(os.environ.get("CREDENTIALS_LISTEN_URL", "").strip()) or None,
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip() or None,
        "EMBEDDED_REDIS_PATH": str(instance_path / "redis.db"),
        "SECRET_KEY": _secret_key(instance_path),
        "NOTIFICATION_BACKEND": os.environ.get("NOTIFICATION_BACKEND", "log"),
        "SIGNING_SECRET_GRACE_HOURS": _int("SIGNING_SECRET_GRACE_HOURS", 24),
        "CARD_PREFIX": os.environ.get("CARD_PREFIX", "6042"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        "SIMULATION_SYNC_LIMIT": _int("SIMULATION_SYNC_LIMIT", 5000),
        "WEBHOOK_ALLOW_LOCALHOST": _bool("WEBHOOK_ALLOW_LOCALHOST", False),
        "WEBHOOK_TIMEOUT_SECONDS": _int("WEBHOOK_TIMEOUT_SECONDS", 10),
        "WEBHOOK_MAX_ATTEMPTS": _int("WEBHOOK_MAX_ATTEMPTS", 8),
        "WEBHOOK_RETRY_BASE_SECONDS": _int("WEBHOOK_RETRY_BASE_SECONDS", 30),
        "SQUARE_API_URL": os.environ.get("SQUARE_API_URL", "").strip() or "https://connect.squareup.com",
        "SQUARE_SANDBOX_API_URL": os.environ.get("SQUARE_SANDBOX_API_URL", "").strip()
        or "https://connect.squareupsandbox.com",
        # Sign-in to web pages (web/security.py).
        "COOKIE_SECURE": _bool("COOKIE_SECURE", True),
        "SESSION_DAYS": _int("SESSION_DAYS", 14),
        "PROXY_HOPS": _int("PROXY_HOPS", 0),
        # Security headers (web/security.py): HSTS on answers over HTTPS; 0 sends none.
        "HSTS_MAX_AGE": _int("HSTS_MAX_AGE", 31536000),
        # Rate limits (web/security.py), as "N per P" (several joined with ";"). Read at each request.
        "RATE_LIMIT_API_AUTH_FAILURES": _limit("RATE_LIMIT_API_AUTH_FAILURES", "30 per 5 minutes"),
        "RATE_LIMIT_ENROLMENTS": _limit("RATE_LIMIT_ENROLMENTS", "100 per hour"),
        "RATE_LIMIT_CLAIM_FAILURES": _limit("RATE_LIMIT_CLAIM_FAILURES", "10 per hour"),
        "RATE_LIMIT_MERCHANT_APPLICATIONS": _limit("RATE_LIMIT_MERCHANT_APPLICATIONS", "10 per hour"),
        "RATE_LIMIT_SIGN_IN_PER_ADDRESS": _limit("RATE_LIMIT_SIGN_IN_PER_ADDRESS", "30 per 10 minutes"),
        "RATE_LIMIT_SIGN_IN_PER_ACCOUNT": _limit("RATE_LIMIT_SIGN_IN_PER_ACCOUNT", "5 per 15 minutes"),
        # /metrics (web/metrics.py).
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", "").strip() or None,
        "METRICS_CACHE_SECONDS": _int("METRICS_CACHE_SECONDS", 15),
    }
