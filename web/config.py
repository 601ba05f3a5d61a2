"""Settings from the environment. See the configuration table in README.md."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path / 'loyalty.db'}"
    # psycopg 3 is the driver for PostgreSQL; accept the common spellings.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


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
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
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
    }
