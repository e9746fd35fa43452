"""Alembic environment of the ingestion service (version table in the `ingestion` schema)."""

from secmaster_common.db.migrations import run_env

run_env()
