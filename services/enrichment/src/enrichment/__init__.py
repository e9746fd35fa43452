"""secmaster enrichment service."""

from pathlib import Path

SCHEMA = "enrichment"
# services/enrichment/migrations: this service's own Alembic environment.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
