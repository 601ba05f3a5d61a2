"""The service as an operator runs it (gunicorn with two workers, a worker): /metrics adds up
every gunicorn worker's requests in multiprocess mode, and the JSON logs have one line per
request with its id and actor, and the job id on a job's lines, never a key."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from tests.service import BIN, ROOT, call, flask_cli, free_port, service_environment, stop, wait_until_healthy


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    instance = tmp_path_factory.mktemp("ops-instance")
    with service_environment(instance, "ops") as env:
        metrics_dir = instance / "prometheus"
        metrics_dir.mkdir()
        (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run: emptied at start")
        env.update(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), LOG_FORMAT="json", METRICS_CACHE_SECONDS="0")
        flask_cli(env, "db", "upgrade")
        admin_key = flask_cli(env, "keys", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web_log, worker_log = instance / "web.log", instance / "worker.log"
        processes = []
        with web_log.open("wb") as web_out, worker_log.open("wb") as worker_out:
            try:
                processes.append(
                    subprocess.Popen(
                        # The deployment's own settings (deploy/gunicorn.conf.py), two workers.
                        [
                            *(str(BIN / "gunicorn"), "wsgi:app", "-c", "deploy/gunicorn.conf.py"),
                            *("-b", f"127.0.0.1:{port}", "-w", "2"),
                        ],
                        cwd=ROOT,
                        env=env,
                        start_new_session=True,
                        stdout=web_out,
                        stderr=subprocess.STDOUT,
                    )
                )
                processes.append(
                    subprocess.Popen(
                        [str(BIN / "flask"), "--app", "wsgi", "worker", "--no-cron"],
                        cwd=ROOT,
                        env=env,
                        start_new_session=True,
                        stdout=worker_out,
                        stderr=subprocess.STDOUT,
                    )
                )
                wait_until_healthy(base, processes)
                yield {"base": base, "admin_key": admin_key, "web_log": web_log, "worker_log": worker_log}
            finally:
                stop(processes)


def scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def program_requests(text: str) -> float:
    for line in text.splitlines():
        wanted = ('endpoint="/api/v1/program"', 'status="200"', 'method="GET"')
        if line.startswith("loyalty_http_requests_total{") and all(label in line for label in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def json_lines(path) -> list[dict]:
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def test_every_scrape_counts_the_requests_of_all_gunicorn_workers(service):
    base, admin = service["base"], service["admin_key"]
    for _ in range(20):
        assert call(base, "GET", "/api/v1/program", key=admin)[0] == 200
    # Whichever worker answers the scrape, it reports all twenty (each worker alone served about half).
    assert [program_requests(scrape(base)) for _ in range(6)] == [20.0] * 6


def test_json_logs_have_a_line_per_request_and_jobs_log_their_id_never_a_key(service):
    base, admin = service["base"], service["admin_key"]
    status, member = call(base, "POST", "/api/v1/members", key=admin, body={"email": "logs@example.com"})
    assert status == 201

    deadline = time.monotonic() + 60
    while True:
        job_lines = [e for e in json_lines(service["worker_log"]) if str(e.get("job_id", "")).startswith("outbox-")]
        if any("notification" in e["message"] for e in job_lines) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any("notification" in e["message"] for e in job_lines), service["worker_log"].read_text()[-3000:]

    access = [e for e in json_lines(service["web_log"]) if e.get("logger") == "loyalty.access"]
    enrolment = [e for e in access if e.get("rule") == "/api/v1/members" and e.get("method") == "POST"]
    assert len(enrolment) == 1, access
    line = enrolment[0]
    assert line["status"] == 201 and line["actor"] == "admin" and line["key_id"].startswith("key_")
    assert len(line["request_id"]) >= 16 and line["duration_ms"] >= 0

    # gunicorn's own lines are JSON too.
    assert any(
        e.get("logger") == "gunicorn.error" and "Booting worker" in e["message"] for e in json_lines(service["web_log"])
    )
    for path in (service["web_log"], service["worker_log"]):
        assert admin not in path.read_text()
        assert member["card_number"] not in path.read_text()
