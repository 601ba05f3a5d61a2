"""Every error has the one envelope with a stable reason."""

import logging

import pytest

from loyalty.audit.models import AuditEvent
from tests.factories import bearer, make_key

ENVELOPE_KEYS = {"code", "status", "message", "reason"}


def assert_envelope(response, status: int, reason: str) -> dict:
    assert response.status_code == status
    assert response.is_json
    body = response.json
    assert ENVELOPE_KEYS <= set(body) <= ENVELOPE_KEYS | {"errors"}
    assert body["code"] == status and body["reason"] == reason
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/nothing", "/api/v1/keys/key_missing/nope"])
def test_unknown_routes_are_404_in_the_envelope(client, db_session, path):
    assert_envelope(client.get(path), 404, "not_found")


def test_an_unknown_object_is_404_not_found(client, db_session):
    admin = make_key(db_session, "admin")
    assert_envelope(client.get("/api/v1/keys/key_01NOPE", headers=bearer(admin)), 404, "not_found")


def test_a_wrong_method_is_405_with_allow(client, db_session):
    response = client.delete("/api/v1/program")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_a_malformed_json_body_is_400_and_changes_nothing(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.patch(
        "/api/v1/program", data=b'{"pending_days": 3', content_type="application/json", headers=bearer(admin)
    )
    assert_envelope(response, 400, "malformed_json")
    assert client.get("/api/v1/program", headers=bearer(admin)).json["pending_days"] == 14


def test_validation_errors_name_each_field(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.patch("/api/v1/program", json={"pending_days": 2.5, "bogus": 1}, headers=bearer(admin))
    body = assert_envelope(response, 422, "validation_error")
    assert set(body["errors"]) == {"pending_days", "bogus"}


def test_a_body_over_the_size_limit_is_413(client, db_session):
    admin = make_key(db_session, "admin")
    response = client.patch(
        "/api/v1/program",
        data=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        content_type="application/json",
        headers=bearer(admin),
    )
    assert_envelope(response, 413, "payload_too_large")


def test_an_unexpected_error_is_logged_with_the_request_id_and_never_leaks(client, db_session, monkeypatch, caplog):
    admin = make_key(db_session, "admin")

    def explode(session):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("api.program.views.get_program", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/program", headers={**bearer(admin), "X-Request-ID": "req-abc-123"})
    body = assert_envelope(response, 500, "internal_error")
    assert "req-abc-123" in body["message"]
    assert "hunter2" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == "req-abc-123"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(getattr(r, "request_id", None) == "req-abc-123" and r.exc_info for r in logged)


def test_every_response_carries_a_request_id(client, db_session):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first and second and first != second
    # A client's own id is kept when it is sane, replaced when it is not.
    assert client.get("/healthz", headers={"X-Request-ID": "pos-42"}).headers["X-Request-ID"] == "pos-42"
    odd = "bad id with spaces and /slashes"
    assert client.get("/healthz", headers={"X-Request-ID": odd}).headers["X-Request-ID"] != odd


def test_a_failed_request_writes_nothing(client, db_session):
    admin = make_key(db_session, "admin")
    before = db_session.query(AuditEvent).count()
    client.patch("/api/v1/program", json={"currency": "ZZZ"}, headers=bearer(admin))
    assert db_session.query(AuditEvent).count() == before


@pytest.mark.parametrize("text", ["Nul\u0000byte", "bell\u0007", "escape\u001b[2J", "delete\u007f", "\ud800lone"])
def test_control_characters_in_a_body_are_a_422_naming_the_field(client, db_session, text):
    admin = make_key(db_session, "admin")
    response = client.patch("/api/v1/program", json={"name": text}, headers=bearer(admin))
    body = assert_envelope(response, 422, "validation_error")
    assert body["errors"] == {"name": ["Contains control characters."]}
    assert client.get("/api/v1/program", headers=bearer(admin)).json["name"] != text


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/keys?merchant_id=mer_%00", "merchant_id"),
        ("/api/v1/notifications?member_id=%00", "member_id"),
        ("/api/v1/audit-events?object_id=x%00y", "object_id"),
        ("/api/v1/merchants/applications?cursor=%00", "cursor"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_422_naming_it(client, db_session, path, field):
    admin = make_key(db_session, "admin")
    body = assert_envelope(client.get(path, headers=bearer(admin)), 422, "validation_error")
    assert field in body["errors"]


@pytest.mark.parametrize("key_id", ["key_%00", "%00", "%C3%A9t%C3%A9", "k" * 65])
def test_a_path_id_that_cannot_exist_is_404_after_the_key_is_checked(client, db_session, key_id):
    assert_envelope(client.get(f"/api/v1/keys/{key_id}"), 401, "unauthenticated")
    admin = make_key(db_session, "admin")
    assert_envelope(client.get(f"/api/v1/keys/{key_id}", headers=bearer(admin)), 404, "not_found")
    assert_envelope(client.post(f"/api/v1/keys/{key_id}/revoke", headers=bearer(admin)), 404, "not_found")
