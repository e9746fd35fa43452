"""pricing: the OpenFIGI market sector and security type of each universe member (they
pick the member's asset class, and so its provider chain).

Revision ID: pricing_0003
Revises: pricing_0002
Create Date: 2026-11-22 03:50:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "pricing_0003"
down_revision: str | None = "pricing_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
ALTER TABLE universe ADD COLUMN market_sector text, ADD COLUMN security_type text
"""

DROP = "ALTER TABLE universe DROP COLUMN security_type, DROP COLUMN market_sector"


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
