"""indexer: initial schema (outbox, inbox, rate-limit log and the indexer tables).

Revision ID: indexer_0001
Revises:
Create Date: 2026-11-22 03:00:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import COMMON_TABLES_DDL, DROP_COMMON_TABLES_DDL, statements

revision: str = "indexer_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE index_definitions (
    index_id text NOT NULL,
    version integer NOT NULL,
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (index_id, version)
);
CREATE TABLE holdings_chunks (
    snapshot_id uuid NOT NULL,
    chunk_index integer NOT NULL,
    chunk_count integer NOT NULL,
    portfolio_id text NOT NULL,
    as_of date NOT NULL,
    holdings jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (snapshot_id, chunk_index)
);
CREATE INDEX holdings_chunks_portfolio_idx ON holdings_chunks (portfolio_id, as_of);
CREATE TABLE securities (
    id_type text NOT NULL,
    id_value text NOT NULL,
    ticker text,
    figi text,
    status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id_type, id_value)
);
CREATE TABLE prices (
    symbol text NOT NULL,
    trading_date date NOT NULL,
    close double precision NOT NULL,
    adj_close double precision,
    provider text NOT NULL,
    PRIMARY KEY (symbol, trading_date)
);
CREATE TABLE index_levels (
    index_id text NOT NULL,
    version integer NOT NULL,
    trading_date date NOT NULL,
    level double precision NOT NULL,
    divisor double precision NOT NULL,
    constituents integer NOT NULL,
    stale_prices jsonb NOT NULL DEFAULT '[]',
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (index_id, version, trading_date)
);
CREATE TABLE rebalances (
    index_id text NOT NULL,
    version integer NOT NULL,
    trading_date date NOT NULL,
    divisor double precision NOT NULL,
    allocations jsonb NOT NULL,
    PRIMARY KEY (index_id, version, trading_date)
)
"""

DROP = """
DROP TABLE rebalances; DROP TABLE index_levels; DROP TABLE prices; DROP TABLE securities; DROP TABLE holdings_chunks; DROP TABLE index_definitions
"""


def upgrade() -> None:
    for stmt in statements(COMMON_TABLES_DDL) + statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP) + statements(DROP_COMMON_TABLES_DDL):
        op.execute(stmt)
