"""ingestion: initial schema (outbox, inbox, rate-limit log and the ingestion tables).

Revision ID: ingestion_0001
Revises:
Create Date: 2026-11-22 03:00:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import COMMON_TABLES_DDL, DROP_COMMON_TABLES_DDL, statements

revision: str = "ingestion_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE files (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256 text NOT NULL,
    source text NOT NULL,
    format text NOT NULL,
    portfolio_id text NOT NULL DEFAULT '',
    as_of date,
    rows_read integer NOT NULL DEFAULT 0,
    records integer NOT NULL DEFAULT 0,
    published integer NOT NULL DEFAULT 0,
    quarantined integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'ingested',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX files_identity_uq ON files (sha256, format, portfolio_id, coalesce(as_of, '1900-01-01'));
CREATE TABLE holdings (
    file_id bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    line_no integer NOT NULL,
    portfolio_id text NOT NULL,
    as_of date NOT NULL,
    identifiers jsonb NOT NULL,
    quantity numeric NOT NULL,
    market_value numeric,
    currency text,
    name text,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX holdings_portfolio_idx ON holdings (portfolio_id, as_of);
CREATE TABLE quarantine (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id bigint REFERENCES files (id) ON DELETE CASCADE,
    row_no integer,
    reason text NOT NULL,
    detail text NOT NULL,
    raw jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

DROP = """
DROP TABLE quarantine; DROP TABLE holdings; DROP TABLE files
"""


def upgrade() -> None:
    for stmt in statements(COMMON_TABLES_DDL) + statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP) + statements(DROP_COMMON_TABLES_DDL):
        op.execute(stmt)
