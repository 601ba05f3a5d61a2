"""``GET /healthz``: is the database reachable, is Redis reachable."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from loyalty.queue import get_redis
from web.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    body = {"status": "ok", "database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health: database unavailable: %s", exc.__class__.__name__)
        db.session.rollback()
        body["database"] = "unavailable"
    try:
        get_redis().ping()
    except (RedisError, OSError) as exc:
        log.warning("health: redis unavailable: %s", exc.__class__.__name__)
        body["redis"] = "unavailable"
    healthy = body["database"] == "ok" and body["redis"] == "ok"
    if not healthy:
        body["status"] = "unavailable"
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
