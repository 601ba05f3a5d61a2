"""gunicorn settings for the web processes (``gunicorn wsgi:app -c deploy/gunicorn.conf.py``).

The request metrics of every worker process are kept in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode) so that ``/metrics`` adds them up: the
folder is emptied when gunicorn starts, so that counts of an earlier run are not
added in.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# The app writes one log line per request itself (by URL rule, never the raw path, which may
# hold a reset link's secret): no gunicorn access log.
accesslog = None
errorlog = "-"
if os.environ.get("LOG_FORMAT") == "json":
    # gunicorn's own lines (workers booting, timeouts) in the app's JSON shape too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "web.requestlog.JsonFormatter"}},
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "INFO", "handlers": []},  # the app adds its own handler to the root logger
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}},
    }
# A request that takes longer than this is a bug or a stuck database: the worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn 27 opens a control socket in $HOME by default; nothing here uses it.
control_socket_disable = True
