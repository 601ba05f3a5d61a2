"""The bare-minimum endpoint the accrual benchmark compares with.

A plain WSGI callable, no framework: it reads the JSON body, does one INSERT
and one UPDATE with psycopg on a connection kept per process, and answers a
small JSON document. Served by gunicorn exactly like the real service.
"""

from __future__ import annotations

import json
import os

import psycopg

_connection: psycopg.Connection | None = None


def _db() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["REFERENCE_DSN"], autocommit=False)
    return _connection


def app(environ, start_response):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(size) or b"{}")
    connection = _db()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_reference_events (external_id, total_minor) VALUES (%s, %s)",
            (body.get("external_id"), body.get("total_minor", 0)),
        )
        cursor.execute(
            "UPDATE bench_reference_accounts SET points = points + %s WHERE id = %s RETURNING points",
            (body.get("total_minor", 0) // 100, body.get("account", 1)),
        )
        points = cursor.fetchone()[0]
    connection.commit()
    payload = json.dumps({"points": points}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
