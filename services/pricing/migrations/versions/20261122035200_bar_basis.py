"""pricing: the price basis (raw, split, split_dividend) of each stored bar, so reads apply
only the adjustments the stored prices do not already contain.

Revision ID: pricing_0004
Revises: pricing_0003
Create Date: 2026-11-22 03:52:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "pricing_0004"
down_revision: str | None = "pricing_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Bars stored before this revision get the basis their provider always returns (the
# adapters' FetchResult.basis); `local` files and unknown providers keep 'raw'.
_BACKFILL = (
    "UPDATE {table} SET basis = CASE provider "
    "WHEN 'yahoo' THEN 'split' WHEN 'polygon' THEN 'split' WHEN 'twelvedata' THEN 'split' "
    "WHEN 'fmp' THEN 'split' WHEN 'stooq' THEN 'split_dividend' END "
    "WHERE provider IN ('yahoo', 'polygon', 'twelvedata', 'fmp', 'stooq')"
)

DDL = f"""
ALTER TABLE bars_daily ADD COLUMN basis text NOT NULL DEFAULT 'raw'
    CHECK (basis IN ('raw', 'split', 'split_dividend'));
ALTER TABLE bars_intraday ADD COLUMN basis text NOT NULL DEFAULT 'raw'
    CHECK (basis IN ('raw', 'split', 'split_dividend'));
{_BACKFILL.format(table="bars_daily")};
{_BACKFILL.format(table="bars_intraday")}
"""

DROP = "ALTER TABLE bars_intraday DROP COLUMN basis; ALTER TABLE bars_daily DROP COLUMN basis"


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
