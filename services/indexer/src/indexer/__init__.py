"""secmaster indexer service."""

from pathlib import Path

SCHEMA = "indexer"
# services/indexer/migrations: this service's own Alembic environment.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
