"""With Redis or the database down, /metrics still answers and says which figures it could not
read, and the rate limits go on counting in the process."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loyalty import queue


@pytest.fixture()
def unreachable_redis(app):
    saved = dict(queue._config)
    queue.configure(url="redis://127.0.0.1:1/0", embedded_path=None)
    yield
    queue.configure(**saved)


def samples(response) -> dict[str, float]:
    assert response.status_code == 200, response.data
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
        if not sample.labels
    }


def test_with_redis_down_metrics_answer_with_the_database_figures(client, db_session, unreachable_redis):
    figures = samples(client.get("/metrics"))
    assert figures["loyalty_redis_figures_up"] == 0
    assert figures["loyalty_database_figures_up"] == 1
    assert "loyalty_purchases_total" in figures


def test_with_the_database_down_metrics_answer_with_the_queue_figures(app, redis_conn):
    from wsgi import create_app

    broken = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    broken.config["METRICS_CACHE_SECONDS"] = 0
    figures = samples(broken.test_client().get("/metrics"))
    assert figures["loyalty_database_figures_up"] == 0
    assert figures["loyalty_redis_figures_up"] == 1
    assert "loyalty_purchases_total" not in figures


def test_with_redis_down_rate_limits_are_counted_in_the_process(
    app, client, db_session, unreachable_redis, monkeypatch
):
    monkeypatch.setitem(app.config, "RATE_LIMIT_MERCHANT_APPLICATIONS", "2 per hour")
    address = {"REMOTE_ADDR": "192.0.2.201"}

    def apply(n: int):
        body = {"name": f"Offline shop {n}", "contact_email": f"offline{n}@example.com"}
        return client.post("/api/v1/merchants/applications", json=body, environ_base=address)

    assert [apply(n).status_code for n in range(3)] == [202, 202, 429]
