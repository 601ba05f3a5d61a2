"""The deployment files (docker-compose.yml, the Dockerfile, deploy/systemd, deploy/gunicorn.conf.py)
are well formed and run commands the service really has, with options it really takes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_compose_runs_postgresql_redis_the_migration_web_and_workers(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "web", "scheduler", "worker"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on an unknown service {needed}"

    assert _command(services["migrate"]) == ["flask", "--app", "wsgi", "db", "upgrade"]
    for name in ("web", "scheduler", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Exactly one process runs the schedules; the scalable workers do not.
    assert "--no-cron" not in _command(services["scheduler"])
    assert "--no-cron" in _command(services["worker"])
    assert _command(services["web"])[:2] == ["gunicorn", "wsgi:app"]


def test_every_process_of_compose_shares_the_database_redis_and_secret_key(compose):
    for name in ("migrate", "web", "scheduler", "worker"):
        environment = compose["services"][name]["environment"]
        assert (
            environment["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in environment["DATABASE_URL"]
        )
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?"), "a deployment must set its own key"
        assert environment["LOG_FORMAT"] == "json"
    assert compose["services"]["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_the_image_is_python_311_slim_with_the_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert re.search(r"^USER loyalty$", dockerfile, re.M)  # not root
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def _unit_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for unit in sorted(UNITS.glob("*.service")):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                commands.append((unit.name, shlex.split(line.removeprefix("ExecStart="))))
    return commands


def _flask_commands(compose) -> list[tuple[str, list[str]]]:
    commands = [(f"compose {name}", _command(s)) for name, s in compose["services"].items() if "command" in s]
    commands += _unit_commands()
    return [
        (where, cmd[3:]) for where, cmd in commands if Path(cmd[0]).name == "flask" and cmd[1:3] == ["--app", "wsgi"]
    ]


def test_the_flask_commands_they_run_exist_with_those_options(app, compose):
    runner = app.test_cli_runner()
    commands = _flask_commands(compose)
    assert len(commands) >= 6
    for where, args in commands:
        result = runner.invoke(args=[*args, "--help"])
        assert result.exit_code == 0, f"{where}: flask --app wsgi {' '.join(args)}: {result.output}"


def test_the_gunicorn_settings_load_and_empty_the_metrics_folder_at_start(app, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_12345.db").write_bytes(b"left from the last run")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    checked = subprocess.run(
        [str(BIN / "gunicorn"), "--check-config", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr

    namespace: dict = {}
    exec(compile((ROOT / "deploy" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        namespace["on_starting"](None)
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert folder.is_dir() and not any(folder.iterdir())
    assert namespace["accesslog"] is None  # the app logs each request itself, without raw paths


def test_the_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    units = sorted(UNITS.glob("*.service"))
    assert {u.name for u in units} == {
        "loyalty-web.service",
        "loyalty-worker@.service",
        "loyalty-scheduler.service",
        "loyalty-migrate.service",
    }
    environment = tmp_path / "loyalty.env"
    shutil.copy(UNITS / "loyalty.env.example", environment)
    for unit in units:
        # Installed at /opt/loyalty with its virtualenv; here, this checkout's.
        text = unit.read_text().replace("/opt/loyalty", str(ROOT)).replace("/etc/loyalty/loyalty.env", str(environment))
        name = unit.name.replace("@.", "@1.")
        (tmp_path / name).write_text(text)
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "loyalty-worker@1.service" in {p.name for p in tmp_path.glob("*.service")}
    assert "--no-cron" in (UNITS / "loyalty-worker@.service").read_text()
    assert "--no-cron" not in (UNITS / "loyalty-scheduler.service").read_text()


def test_the_environment_example_names_only_documented_settings():
    readme = (ROOT / "README.md").read_text()
    for line in (UNITS / "loyalty.env.example").read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]+)=", line)
        if match:
            assert f"`{match.group(1)}`" in readme, f"{match.group(1)} is not in README.md's configuration table"
