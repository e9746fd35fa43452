# syntax=docker/dockerfile:1
# The ingestion service image. Build from the repository root:
#   docker build -f deploy/docker/ingestion.Dockerfile -t secmaster-ingestion .

FROM python:3.11-slim AS build
# uv from PyPI, as the Makefile installs it (the lock was written by this version).
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# Third-party dependencies first, in a layer that changes only with the lock. uv reads
# the whole workspace, so every member's pyproject.toml must be here.
COPY pyproject.toml uv.lock README.md ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/emulators/pyproject.toml libs/emulators/
COPY services/ingestion/pyproject.toml services/ingestion/
COPY services/enrichment/pyproject.toml services/enrichment/
COPY services/pricing/pyproject.toml services/pricing/
COPY services/indexer/pyproject.toml services/indexer/
RUN uv sync --frozen --package secmaster-ingestion --no-dev --no-install-workspace

# Then the workspace itself. Members stay editable installs on purpose: a service finds
# its Alembic environment at services/<svc>/migrations and the common lib finds
# deploy/postgres/ by walking up from its source file.
COPY libs/ libs/
COPY services/ services/
COPY deploy/postgres/ deploy/postgres/
RUN uv sync --frozen --package secmaster-ingestion --no-dev

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin secmaster \
    && mkdir -p /data/drop && chown 10001:10001 /data/drop
# Code stays owned by root: the service user can read it, not change it.
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0 \
    INGESTION_HTTP_PORT=8101
USER 10001
EXPOSE 8101
# python:3.11-slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('INGESTION_HTTP_PORT', '8101') + '/healthz', timeout=2)"]
CMD ["python", "-m", "ingestion.app"]
