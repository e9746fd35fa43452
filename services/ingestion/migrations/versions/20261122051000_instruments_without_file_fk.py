"""ingestion: instruments.file_id without a foreign key.

The key's trigger checked `files` once per copied row and doubled the cost of a bulk load
(a million-record FIRDS file); the file row is written in the same transaction as its
instruments and files are never deleted, so the check guarded nothing in practice.

Revision ID: ingestion_0004
Revises: ingestion_0003
Create Date: 2026-11-22 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ingestion_0004"
down_revision: str | None = "ingestion_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE instruments DROP CONSTRAINT instruments_file_id_fkey")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE instruments ADD CONSTRAINT instruments_file_id_fkey "
        "FOREIGN KEY (file_id) REFERENCES files (id) ON DELETE SET NULL"
    )
