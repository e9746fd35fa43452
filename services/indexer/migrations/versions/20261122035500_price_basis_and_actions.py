"""indexer: the basis of each stored close and the splits and dividends from market.bars.v1.

Revision ID: indexer_0003
Revises: indexer_0002
Create Date: 2026-11-22 03:55:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "indexer_0003"
down_revision: str | None = "indexer_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
ALTER TABLE prices ADD COLUMN basis text NOT NULL DEFAULT 'raw';
CREATE TABLE corporate_actions (
    symbol text NOT NULL,
    ex_date date NOT NULL,
    kind text NOT NULL,
    value double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date, kind)
)
"""

DROP = """
DROP TABLE corporate_actions;
ALTER TABLE prices DROP COLUMN basis
"""


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
