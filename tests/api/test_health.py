import pytest

from loyalty import queue


def test_health_is_ok_when_the_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture()
def unreachable_redis(app):
    saved = dict(queue._config)
    queue.configure(url="redis://127.0.0.1:1/0", embedded_path=None)
    yield
    queue.configure(**saved)


def test_health_is_503_naming_redis_when_redis_is_down(client, unreachable_redis):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "ok", "redis": "unavailable"}


def test_health_is_503_naming_the_database_when_it_is_down(app, redis_conn):
    from wsgi import create_app

    # A second app whose database server does not exist; same Redis.
    broken = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unavailable", "redis": "ok"}
