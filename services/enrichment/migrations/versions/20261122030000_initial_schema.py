"""enrichment: initial schema (outbox, inbox, rate-limit log and the enrichment tables).

Revision ID: enrichment_0001
Revises:
Create Date: 2026-11-22 03:00:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import COMMON_TABLES_DDL, DROP_COMMON_TABLES_DDL, statements

revision: str = "enrichment_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE security_mappings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_type text NOT NULL,
    id_value text NOT NULL,
    filter_key text NOT NULL DEFAULT '',
    ticker text,
    figi text,
    composite_figi text,
    share_class_figi text,
    exch_code text,
    security_type text,
    security_type2 text,
    market_sector text,
    name text,
    listings integer NOT NULL DEFAULT 0,
    has_no_results boolean NOT NULL DEFAULT false,
    start_date date NOT NULL,
    end_date date,
    last_fetched_date timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX security_mappings_current_uq ON security_mappings (id_type, id_value, filter_key) WHERE end_date IS NULL;
CREATE INDEX security_mappings_history_idx ON security_mappings (id_type, id_value, filter_key, start_date);
CREATE TABLE security_listings (
    id_type text NOT NULL,
    id_value text NOT NULL,
    filter_key text NOT NULL DEFAULT '',
    figi text NOT NULL,
    listing jsonb NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id_type, id_value, filter_key, figi)
);
CREATE TABLE mapping_queue (
    id_type text NOT NULL,
    id_value text NOT NULL,
    filter_key text NOT NULL DEFAULT '',
    job jsonb NOT NULL,
    correlation_id text,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    PRIMARY KEY (id_type, id_value, filter_key)
);
CREATE INDEX mapping_queue_due_idx ON mapping_queue (next_attempt_at)
"""

DROP = """
DROP TABLE mapping_queue; DROP TABLE security_listings; DROP TABLE security_mappings
"""


def upgrade() -> None:
    for stmt in statements(COMMON_TABLES_DDL) + statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP) + statements(DROP_COMMON_TABLES_DDL):
        op.execute(stmt)
