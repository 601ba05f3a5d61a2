"""Settings: ANALYTICS_DATABASE_URL (reports and monitoring read a replica when one is set, and
everything reads the primary as before when it is not), and rate limits checked at start-up."""

from __future__ import annotations

import pytest

from loyalty import db as loyalty_db
from web import config


def test_without_a_replica_read_only_sessions_are_the_primarys(app, db_session):
    with app.app_context(), loyalty_db.read_only() as session:
        assert session is db_session


def test_the_replica_url_becomes_the_analytics_bind_with_the_psycopg_driver(monkeypatch, tmp_path):
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", "postgres://reader@replica.internal:5432/loyalty")
    assert config.load(tmp_path)["SQLALCHEMY_BINDS"] == {
        "analytics": "postgresql+psycopg://reader@replica.internal:5432/loyalty"
    }
    monkeypatch.delenv("ANALYTICS_DATABASE_URL")
    assert config.load(tmp_path)["SQLALCHEMY_BINDS"] == {}


@pytest.fixture()
def restore_read_sessions():
    yield
    loyalty_db.set_read_session_factory(None)


def test_with_a_replica_read_only_sessions_read_the_replica(
    app, db_session, database_url, tmp_path, restore_read_sessions
):
    from wsgi import create_app

    replica_url = f"sqlite:///{tmp_path / 'replica.db'}"
    replicated = create_app({"TESTING": True, "SQLALCHEMY_BINDS": {"analytics": replica_url}})
    with replicated.app_context(), loyalty_db.read_only() as session:
        assert str(session.get_bind().url) == replica_url
        assert session.get_bind().url != db_session.get_bind().engine.url


def test_a_malformed_rate_limit_setting_is_refused_at_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("RATE_LIMIT_ENROLMENTS", "lots")
    with pytest.raises(ValueError, match="RATE_LIMIT_ENROLMENTS"):
        config.load(tmp_path)
    monkeypatch.setenv("RATE_LIMIT_ENROLMENTS", "20 per hour; 100 per day")
    assert config.load(tmp_path)["RATE_LIMIT_ENROLMENTS"] == "20 per hour; 100 per day"


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_malformed_ping_after_idle_setting_is_refused_at_start_up(monkeypatch, tmp_path, value):
    monkeypatch.setenv("DATABASE_PING_AFTER_IDLE_SECONDS", value)
    with pytest.raises(ValueError, match="DATABASE_PING_AFTER_IDLE_SECONDS must be a number of seconds"):
        config.load(tmp_path)
    monkeypatch.setenv("DATABASE_PING_AFTER_IDLE_SECONDS", "0.5")
    assert config.load(tmp_path)["DATABASE_PING_AFTER_IDLE_SECONDS"] == 0.5
