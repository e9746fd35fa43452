"""enrichment: framed outbox rows (many events of one topic in one row, for bulk loads).

Revision ID: enrichment_0002
Revises: enrichment_0001
Create Date: 2026-11-22 05:00:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import DROP_OUTBOX_FRAMES_DDL, OUTBOX_FRAMES_DDL, statements

revision: str = "enrichment_0002"
down_revision: str | None = "enrichment_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for stmt in statements(OUTBOX_FRAMES_DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP_OUTBOX_FRAMES_DDL):
        op.execute(stmt)
