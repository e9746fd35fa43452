"""pricing: initial schema (outbox, inbox, rate-limit log and the pricing tables).

Revision ID: pricing_0001
Revises:
Create Date: 2026-11-22 03:00:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import COMMON_TABLES_DDL, DROP_COMMON_TABLES_DDL, statements

revision: str = "pricing_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE universe (
    instrument_id text PRIMARY KEY,
    symbol text NOT NULL,
    figi text,
    id_type text,
    id_value text,
    exch_code text,
    active boolean NOT NULL DEFAULT true,
    added_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bars_daily (
    instrument_id text NOT NULL,
    trading_date date NOT NULL,
    symbol text NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    adj_close double precision,
    volume double precision NOT NULL,
    provider text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, trading_date)
);
CREATE TABLE bars_intraday (
    instrument_id text NOT NULL,
    interval text NOT NULL,
    ts timestamptz NOT NULL,
    symbol text NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision NOT NULL,
    provider text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, interval, ts)
);
CREATE TABLE corporate_actions (
    instrument_id text NOT NULL,
    ex_date date NOT NULL,
    kind text NOT NULL,
    value double precision NOT NULL,
    provider text NOT NULL,
    PRIMARY KEY (instrument_id, ex_date, kind)
);
CREATE TABLE bar_quarantine (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instrument_id text NOT NULL,
    provider text NOT NULL,
    bar_key text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    raw jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

DROP = """
DROP TABLE bar_quarantine; DROP TABLE corporate_actions; DROP TABLE bars_intraday; DROP TABLE bars_daily; DROP TABLE universe
"""


def upgrade() -> None:
    for stmt in statements(COMMON_TABLES_DDL) + statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP) + statements(DROP_COMMON_TABLES_DDL):
        op.execute(stmt)
