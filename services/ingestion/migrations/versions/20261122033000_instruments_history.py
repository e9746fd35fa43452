"""ingestion: instruments keyed by (ISIN, MIC) with their validity history; quarantine rows
that came from a topic instead of a file.

Revision ID: ingestion_0002
Revises: ingestion_0001
Create Date: 2026-11-22 03:30:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "ingestion_0002"
down_revision: str | None = "ingestion_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per version of an (ISIN, MIC); the current one has superseded_at NULL. mic is ''
# for a venue-less record (generic instruments CSV), so the key never holds a NULL.
DDL = """
CREATE TABLE instruments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    isin text NOT NULL,
    mic text NOT NULL,
    version integer NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'terminated', 'cancelled')),
    change text NOT NULL,
    full_name text,
    short_name text,
    cfi text,
    currency text,
    issuer_lei text,
    valid_from timestamptz,
    valid_to timestamptz,
    expiry_date date,
    competent_authority text,
    other_ids jsonb NOT NULL DEFAULT '{}',
    content_hash text NOT NULL,
    file_id bigint REFERENCES files (id) ON DELETE SET NULL,
    source text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz,
    UNIQUE (isin, mic, version)
);
CREATE UNIQUE INDEX instruments_current_uq ON instruments (isin, mic) WHERE superseded_at IS NULL;
CREATE INDEX instruments_file_idx ON instruments (file_id);
ALTER TABLE quarantine ADD COLUMN source text;
ALTER TABLE quarantine ADD COLUMN event_id uuid
"""

DROP = """
ALTER TABLE quarantine DROP COLUMN event_id;
ALTER TABLE quarantine DROP COLUMN source;
DROP TABLE instruments
"""


def upgrade() -> None:
    for stmt in statements(DDL):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DROP):
        op.execute(stmt)
