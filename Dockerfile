# The service's image: the same code for the web processes, the workers and the migration.
# docker-compose.yml runs it against PostgreSQL and Redis; see docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --home-dir /app --shell /usr/sbin/nologin loyalty

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN mkdir -p /app/instance && chown loyalty /app/instance

USER loyalty
ENV FLASK_APP=wsgi \
    LOYALTY_INSTANCE_PATH=/app/instance \
    LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/loyalty-metrics

EXPOSE 8000
# deploy/gunicorn.conf.py empties PROMETHEUS_MULTIPROC_DIR at start; WEB_CONCURRENCY sets the workers.
CMD ["gunicorn", "wsgi:app", "--config", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
