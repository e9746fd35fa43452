"""indexer: fundamentals (shares outstanding / market cap), index members by symbol, the
queue of indexes waiting to be recomputed, and each index's last computation status.

Revision ID: indexer_0002
Revises: indexer_0001
Create Date: 2026-11-22 03:40:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "indexer_0002"
down_revision: str | None = "indexer_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE fundamentals (
    symbol text NOT NULL,
    as_of date NOT NULL,
    shares_outstanding double precision,
    market_cap double precision,
    source text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, as_of),
    CHECK (shares_outstanding IS NOT NULL OR market_cap IS NOT NULL)
);
CREATE TABLE index_members (
    index_id text NOT NULL,
    symbol text NOT NULL,
    PRIMARY KEY (index_id, symbol)
);
CREATE INDEX index_members_symbol_idx ON index_members (symbol);
CREATE TABLE pending_recomputes (
    index_id text PRIMARY KEY,
    generation bigint NOT NULL DEFAULT 1,
    reason text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE index_status (
    index_id text PRIMARY KEY,
    version integer NOT NULL,
    status text NOT NULL,
    detail text NOT NULL DEFAULT '',
    computed_at timestamptz NOT NULL DEFAULT now()
)
"""

DROP = """
DROP TABLE index_status; DROP TABLE pending_recomputes;
DROP TABLE index_members; DROP TABLE fundamentals
"""


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
