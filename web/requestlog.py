"""Request ids and logging: every log line of a request carries its id, every line of a job its job id.

Each request also gets one line on the ``loyalty.access`` logger when it ends:
method, URL rule (never the path itself, which may hold a reset link's secret
or a card number), status, duration, request id, and who made it (the kind of
actor and its key id, or the kind of signed-in account), never a credential.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g, has_request_context, request, session

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Where api.auth keeps the authenticated actor of a request (a ``loyalty.actors.Actor``).
ACTOR_ENVIRON_KEY = "loyalty.actor"
# Where web.security keeps who signed in to a page session.
_LOGIN_SESSION_KEY = "login"

access_log = logging.getLogger("loyalty.access")

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("loyalty_job_id", default=None)


def current_request_id() -> str | None:
    if has_request_context():
        return getattr(g, "request_id", None)
    return None


def current_job_id() -> str | None:
    return _job_id.get()


@contextmanager
def job_logging(job_id: str) -> Iterator[None]:
    """Log lines written inside carry this RQ job's id."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def _install_record_factory() -> None:
    """Give every log record the current request id and job id, whichever handler sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id() or "-"
        # Not ``job_id``: RQ passes that name itself in ``extra`` on some of its lines.
        record.current_job_id = current_job_id() or "-"
        return record

    factory.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _job_of(record: logging.LogRecord) -> str | None:
    job_id = getattr(record, "current_job_id", "-")
    if job_id == "-":
        job_id = getattr(record, "job_id", None) or "-"  # RQ's own lines about a job
    return None if job_id == "-" else str(job_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the ``fields`` a record was given (``extra={"fields": {...}}``) are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        job_id = _job_of(record)
        if job_id:
            entry["job_id"] = job_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for name, value in fields.items():
                entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time level [request id] logger: message``, with `` job=<id>`` on a job's lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job_id = _job_of(record)
        if job_id:
            head, sep, tail = line.partition("\n")
            line = f"{head} job={job_id}{sep}{tail}"
        return line


def _actor_fields() -> dict:
    """Who made the request: an API key's role and id, or a signed-in page account's kind. Never a secret."""
    actor = request.environ.get(ACTOR_ENVIRON_KEY)
    if actor is not None:
        fields = {"actor": actor.role.value if actor.role else actor.kind}
        if actor.key_id:
            fields["key_id"] = actor.key_id
        return fields
    # Read the session only when the browser sent one (reading it makes the answer vary by cookie).
    if current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies:
        login = session.get(_LOGIN_SESSION_KEY)
        if isinstance(login, dict) and isinstance(login.get("kind"), str):
            return {"actor": login["kind"]}
    return {"actor": "anonymous"}


def _log_request(response) -> None:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    rule = request.url_rule.rule if request.url_rule is not None else None
    fields = {
        "method": request.method,
        "rule": rule,
        "status": response.status_code,
        "duration_ms": duration_ms,
        **_actor_fields(),
    }
    who = fields["actor"] + (f" key={fields['key_id']}" if "key_id" in fields else "")
    access_log.info(
        "%s %s %s %sms %s",
        request.method,
        rule or "-",
        response.status_code,
        duration_ms,
        who,
        extra={"fields": fields},
    )


def configure_logging(app: Flask) -> None:
    _install_record_factory()
    handler = logging.StreamHandler()
    handler.set_name("loyalty")
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    root = logging.getLogger()
    existing = [h for h in root.handlers if h.get_name() == "loyalty"]
    if existing:
        existing[0].setFormatter(handler.formatter)
    else:
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    app.logger.handlers.clear()  # propagate to the root handler only
    app.logger.propagate = True

    @app.before_request
    def _assign_request_id() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        if has_request_context() and getattr(g, "request_id", None):
            response.headers["X-Request-ID"] = g.request_id
        if access_log.isEnabledFor(logging.INFO):
            try:
                _log_request(response)
            except Exception:  # a log line never turns an answer into an error
                logging.getLogger(__name__).exception("could not write the access log line")
        return response
