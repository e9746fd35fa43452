"""secmaster pricing service."""

from pathlib import Path

SCHEMA = "pricing"
# services/pricing/migrations: this service's own Alembic environment.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
