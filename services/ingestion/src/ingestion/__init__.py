"""secmaster ingestion service."""

from pathlib import Path

SCHEMA = "ingestion"
# services/ingestion/migrations: this service's own Alembic environment.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
