"""Alembic environment of the indexer service (version table in the `indexer` schema)."""

from secmaster_common.db.migrations import run_env

run_env()
