"""Prometheus metrics at ``GET /metrics``.

Two kinds of figures, each counted where it is correct with many processes:

- **Requests** (``loyalty_http_requests_total``, ``loyalty_http_request_duration_seconds``)
  are counted in the web process that answered, by method, URL rule (never the
  raw path) and status. Under gunicorn every worker process counts its own:
  set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder for the service's
  processes and prometheus_client's multiprocess mode adds them all up, whichever
  process answers the scrape. Without it a process reports only its own requests
  (right for one process, as in the tests).
- **Business and queue figures** (purchases, points issued and redeemed, members,
  the outbox's depth, RQ's queues and failed jobs) are read from the database and
  Redis at scrape time (``loyalty.metrics``): whichever process or machine
  recorded a purchase, and across restarts, they are the stored truth. The
  database figures are kept in Redis for ``METRICS_CACHE_SECONDS`` so frequent
  scrapes by many scrapers cost one aggregate, and read from the analytics
  replica when ``ANALYTICS_DATABASE_URL`` is set.

Who may read it: with ``METRICS_TOKEN`` set, a request bearing
``Authorization: Bearer <METRICS_TOKEN>``; without it, only requests from the
machine itself (loopback), so a scraper elsewhere needs the token.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import time
from http import HTTPStatus

from flask import Flask, Response, current_app, g, request
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from loyalty import metrics as figures
from loyalty.db import read_only
from loyalty.queue import get_redis

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "loyalty_http_requests",
    "HTTP requests answered, by method, URL rule and status.",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "loyalty_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, URL rule and status.",
    ["method", "endpoint", "status"],
)

UNMATCHED = "<unmatched>"  # the label of requests to no route (404s, probes)
_CACHE_KEY = "loyalty:metrics:business"


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class StoredFigures:
    """A collector of the figures read from the database and Redis when scraped."""

    def __init__(self, cache_seconds: int) -> None:
        self.cache_seconds = cache_seconds

    def collect(self):
        yield from self._business()
        yield from self._queues()

    def _totals(self) -> dict | None:
        redis = None
        if self.cache_seconds > 0:
            try:
                redis = get_redis()
                cached = redis.get(_CACHE_KEY)
                if cached:
                    return json.loads(cached)
            except (RedisError, OSError, ValueError):
                redis = None
        try:
            with read_only() as session:
                totals = figures.business_totals(session)
                outbox = figures.outbox_depth(session)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read: %s", exc.__class__.__name__)
            return None
        values = {
            "members": totals.members,
            "purchases": totals.purchases,
            "purchase_returns": totals.purchase_returns,
            "points_issued": totals.points_issued,
            "points_redeemed": totals.points_redeemed,
            "ledger_points": [[kind, direction, points] for (kind, direction), points in totals.ledger_points.items()],
            "outbox_pending": outbox.pending,
            "outbox_oldest_age_seconds": outbox.oldest_age_seconds(),
        }
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                redis.set(_CACHE_KEY, json.dumps(values), ex=self.cache_seconds)
        return values

    def _business(self):
        values = self._totals()
        up = GaugeMetricFamily("loyalty_database_figures_up", "1 when the database figures below could be read.")
        up.add_metric([], 0 if values is None else 1)
        yield up
        if values is None:
            return
        for name, help_text, key in (
            ("loyalty_purchases", "Purchases recorded (each sale once, whatever the retries).", "purchases"),
            ("loyalty_purchase_returns", "Returns recorded against purchases.", "purchase_returns"),
            ("loyalty_points_issued", "Points earned by members (ledger kinds earn and claim).", "points_issued"),
            (
                "loyalty_points_redeemed",
                "Points spent on rewards and as payment (ledger kind redeem).",
                "points_redeemed",
            ),
        ):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], values[key])
            yield counter
        ledger = CounterMetricFamily(
            "loyalty_ledger_points",
            "Points added (credit) and taken (debit) by ledger entries, by kind.",
            labels=["kind", "direction"],
        )
        for kind, direction, points in sorted(values["ledger_points"]):
            ledger.add_metric([kind, direction], points)
        yield ledger
        members = GaugeMetricFamily("loyalty_members", "Members enrolled (erased members included).")
        members.add_metric([], values["members"])
        yield members
        pending = GaugeMetricFamily("loyalty_outbox_pending", "Outbox messages (background work) not yet run.")
        pending.add_metric([], values["outbox_pending"])
        yield pending
        oldest = GaugeMetricFamily(
            "loyalty_outbox_oldest_pending_age_seconds", "Age of the oldest outbox message not yet run (0 when none)."
        )
        oldest.add_metric([], values["outbox_oldest_age_seconds"])
        yield oldest

    def _queues(self):
        up = GaugeMetricFamily("loyalty_redis_figures_up", "1 when the queue figures below could be read.")
        try:
            depths = figures.queue_depths(get_redis())
        except (RedisError, OSError) as exc:
            log.warning("metrics: Redis could not be read: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("loyalty_rq_jobs", "RQ jobs by queue and state.", labels=["queue", "state"])
        queued = GaugeMetricFamily("loyalty_rq_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
        failed = GaugeMetricFamily(
            "loyalty_rq_failed_jobs", "Jobs in each RQ queue's failed registry (kept 90 days).", labels=["queue"]
        )
        for queue, states in depths.items():
            for state, count in states.items():
                jobs.add_metric([queue, state], count)
            queued.add_metric([queue], states["queued"])
            failed.add_metric([queue], states["failed"])
        yield jobs
        yield queued
        yield failed


def render() -> bytes:
    """The exposition text: request metrics (of every process in multiprocess mode), then the stored figures."""
    if _multiprocess():
        requests_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests_registry)
    else:
        requests_registry = PROCESS_REGISTRY
    stored = CollectorRegistry(auto_describe=False)
    stored.register(StoredFigures(int(current_app.config.get("METRICS_CACHE_SECONDS", 15))))
    return generate_latest(requests_registry) + generate_latest(stored)


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _allowed() -> Response | None:
    """None when the scraper may read the metrics, else the refusal."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return _refusal(401, "unauthenticated", "The metrics need Authorization: Bearer <METRICS_TOKEN>.")
    if _from_loopback():
        return None
    return _refusal(403, "forbidden", "The metrics are served to this machine only unless METRICS_TOKEN is set.")


def _refusal(status: int, reason: str, message: str) -> Response:
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message, "reason": reason}
    response = current_app.response_class(json.dumps(body), status=status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def metrics_view():
    refusal = _allowed()
    if refusal is not None:
        return refusal
    return Response(render(), headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count every request, and serve ``GET /metrics``."""

    @app.after_request
    def _observe(response):
        started = g.get("request_started")
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
            labels = (request.method, endpoint, str(response.status_code))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
