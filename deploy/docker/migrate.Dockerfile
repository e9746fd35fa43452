# syntax=docker/dockerfile:1
# The `secmaster` CLI image: runs `secmaster migrate --only <svc>` (schemas, roles, one
# service's Alembic as its migrator role) and creates the topics. Build from the repo root:
#   docker build -f deploy/docker/migrate.Dockerfile -t secmaster-migrate .

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
RUN uv sync --frozen --package secmaster --no-dev --no-install-workspace

# The root package (the `secmaster` CLI) needs every service installed: `migrate` finds
# them through the `secmaster.services` entry points and runs their Alembic environments
# from services/<svc>/migrations, and the common lib reads deploy/postgres/ beside it.
COPY libs/ libs/
COPY services/ services/
COPY src/ src/
COPY deploy/postgres/ deploy/postgres/
RUN uv sync --frozen --package secmaster --no-dev

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin secmaster
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
USER 10001
# One-shot: no HEALTHCHECK. `docker run ... secmaster-migrate migrate --only pricing`
ENTRYPOINT ["secmaster"]
CMD ["migrate"]
