"""Alembic environment of the enrichment service (version table in the `enrichment` schema)."""

from secmaster_common.db.migrations import run_env

run_env()
