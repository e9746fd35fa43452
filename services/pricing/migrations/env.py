"""Alembic environment of the pricing service (version table in the `pricing` schema)."""

from secmaster_common.db.migrations import run_env

run_env()
