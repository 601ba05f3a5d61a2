"""Secrets never reach the logs: keys, signing secrets and signatures, passwords, reset links and
card numbers are driven through the API, the portal, the console and the jobs with every logger
at DEBUG (SQL included), and none of their values appears in any record, formatted or not."""

from __future__ import annotations

import json
import logging
import re

from sqlalchemy import select

from loyalty.members.models import Member
from loyalty.notifications.models import Notification
from tests.factories import bearer, make_key
from tests.factories_merchants import make_merchant, make_merchant_key, make_store, signed_headers
from tests.factories_staff import make_staff, sign_in
from tests.portal.helpers import Visitor, log_in, sign_up
from web.requestlog import JsonFormatter, TextFormatter


def _signed(client, api_key: str, secret: str, method: str, path: str, body: dict | None = None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {**bearer(api_key), **signed_headers(secret, method, path, raw)}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = client.open(path, method=method, data=raw, headers=headers)
    return response, headers["X-Loyalty-Signature"]


def test_no_secret_reaches_the_logs_at_debug(app, client, db_session, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    for noisy in ("sqlalchemy.engine", "urllib3", "werkzeug", "rq"):
        caplog.set_level(logging.DEBUG, logger=noisy)
    secrets: dict[str, str] = {}

    # API keys: a good one, one created through the API, and a guess.
    admin = make_key(db_session, "admin")
    secrets["admin key"] = admin
    created = client.post("/api/v1/keys", json={"name": "ops", "role": "marketer"}, headers=bearer(admin))
    assert created.status_code == 201
    secrets["created key"] = created.json["secret"]
    assert client.get("/api/v1/program", headers=bearer(created.json["secret"])).status_code == 200
    secrets["guessed key"] = "sk_live_guess_4f1d2a9b7c"
    assert client.get("/api/v1/program", headers=bearer(secrets["guessed key"])).status_code == 401

    # A terminal: its key and signing secret, shown once, and the signatures of its requests.
    merchant = make_merchant(db_session)
    store = make_store(db_session, merchant.id)
    merchant_key = make_merchant_key(db_session, merchant.id)
    secrets["merchant key"] = merchant_key
    terminal = client.post(f"/api/v1/stores/{store.id}/terminals", json={"name": "Till"}, headers=bearer(merchant_key))
    assert terminal.status_code == 201
    till_key, signing_secret = terminal.json["api_key"], terminal.json["signing_secret"]
    secrets["terminal key"], secrets["signing secret"] = till_key, signing_secret
    enrolled, signature = _signed(
        client, till_key, signing_secret, "POST", "/api/v1/members", {"email": "till@example.com"}
    )
    assert enrolled.status_code == 201
    secrets["signature"] = signature.removeprefix("v1=")
    card = enrolled.json["card_number"]
    secrets["card number"] = card
    looked_up, signature = _signed(client, till_key, signing_secret, "GET", f"/api/v1/members?card_number={card}")
    assert looked_up.status_code == 200 and looked_up.json["items"]
    secrets["lookup signature"] = signature.removeprefix("v1=")
    bought, _ = _signed(
        client,
        till_key,
        signing_secret,
        "POST",
        "/api/v1/purchases",
        {
            "external_id": "R-logs-1",
            "member": {"card_number": card},
            "occurred_at": "2026-11-22T10:15:00+08:00",
            "currency": "EUR",
            "total_minor": 4250,
            "items": [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unit_price_minor": 4250}],
        },
    )
    assert bought.status_code in (201, 422), bought.json  # 422 only if the program runs another currency
    forged = client.get(
        "/api/v1/program",
        headers={**bearer(till_key), "X-Loyalty-Timestamp": "1", "X-Loyalty-Signature": "v1=" + "ab" * 32},
    )
    assert forged.status_code == 401

    # The portal: a password, a wrong one, a reset link and the new password.
    secrets["portal password"] = "tide-lantern-43-logs"
    visitor = Visitor(client)
    sign_up(visitor, "shopper@example.com", password=secrets["portal password"])
    secrets["wrong portal password"] = "not-my-password-77"
    assert (
        log_in(Visitor(app.test_client()), "shopper@example.com", secrets["wrong portal password"]).status_code == 422
    )
    forgot = Visitor(app.test_client())
    forgot.post("/portal/forgot", {"email": "shopper@example.com"}, form_from="/portal/forgot")
    member = db_session.scalar(select(Member).where(Member.email == "shopper@example.com"))
    message = db_session.scalars(
        select(Notification).where(Notification.member_id == member.id, Notification.template == "password_reset")
    ).first()
    path = re.sub(r"^https?://[^/]+", "", message.data["link"])
    run_jobs()  # the reset message is delivered (by the log backend) by its job
    secrets["reset token"] = path.rstrip("/").rsplit("/", 1)[-1]
    assert len(secrets["reset token"]) >= 16
    assert forgot.get(path).status_code == 200
    secrets["new portal password"] = "harbour-lights-9-logs"
    reset = forgot.post(path, {"password": secrets["new portal password"], "confirm": secrets["new portal password"]})
    assert reset.status_code == 302

    # The console: a staff password, right and wrong.
    staff = make_staff(db_session, "admin", password="correct horse battery logs")
    secrets["staff password"] = "correct horse battery logs"
    secrets["wrong staff password"] = "wrong horse battery 12"
    assert sign_in(app.test_client(), staff.email, secrets["wrong staff password"]).status_code == 401
    assert sign_in(app.test_client(), staff.email, secrets["staff password"]).status_code == 302
    run_jobs()

    assert len(caplog.records) > 20  # the requests were logged (one access line each, at least)
    assert any(r.name == "loyalty.access" for r in caplog.records)
    formatters = (JsonFormatter(), TextFormatter())
    for record in caplog.records:
        texts = [record.getMessage(), repr(record.__dict__)] + [f.format(record) for f in formatters]
        for name, secret in secrets.items():
            for text in texts:
                assert secret not in text, f"the {name} is in a log line of {record.name}: {text[:300]}"
