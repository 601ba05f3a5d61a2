"""The framework floor the accrual benchmark also measures.

The service's own application (``create_app()``: its configuration, request
ids, error handling, database session) with one extra route that does exactly
the bare-minimum endpoint's work: read the JSON body, one INSERT and one
UPDATE, through Flask-SQLAlchemy's session. What it costs over
``bench/reference_app.py`` is the price of the stack before any loyalty logic
runs, so it bounds what the full purchase path can reach.
"""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import text

from web.extensions import db
from wsgi import create_app

app = create_app()

_INSERT = text("INSERT INTO bench_reference_events (external_id, total_minor) VALUES (:external_id, :total)")
_UPDATE = text("UPDATE bench_reference_accounts SET points = points + :points WHERE id = :account RETURNING points")


@app.post("/floor")
def floor():
    body = request.get_json()
    total = body.get("total_minor", 0)
    db.session.execute(_INSERT, {"external_id": body.get("external_id"), "total": total})
    points = db.session.execute(_UPDATE, {"points": total // 100, "account": body.get("account", 1)}).scalar_one()
    db.session.commit()
    return jsonify(points=points), 201
