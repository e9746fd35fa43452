"""pricing: fundamentals (each provider's last observation, and the combined view by
provider priority that was last published).

Revision ID: pricing_0002
Revises: pricing_0001
Create Date: 2026-11-22 03:45:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "pricing_0002"
down_revision: str | None = "pricing_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE fundamentals_observations (
    instrument_id text NOT NULL,
    provider text NOT NULL,
    symbol text NOT NULL,
    as_of date NOT NULL,
    shares_outstanding double precision,
    market_cap double precision,
    currency text,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instrument_id, provider)
);
CREATE TABLE fundamentals (
    instrument_id text PRIMARY KEY,
    symbol text NOT NULL,
    as_of date NOT NULL,
    shares_outstanding double precision,
    shares_source text,
    market_cap double precision,
    market_cap_source text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (shares_outstanding IS NOT NULL OR market_cap IS NOT NULL)
)
"""

DROP = "DROP TABLE fundamentals; DROP TABLE fundamentals_observations"


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
