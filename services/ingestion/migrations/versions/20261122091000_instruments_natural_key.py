"""ingestion: instrument versions keyed by (isin, mic, version), without a surrogate id or
an index on file_id.

Every row a bulk load copies went into five indexes. Two served no query: the index on
file_id (it was there for the foreign key dropped in ingestion_0004) and the surrogate
`id` key, used only to name the version being superseded, which (isin, mic, version)
names as well. Without both, Postgres copied a row in 6.5 us instead of 9 (200,000 FIRDS
rows). (isin, mic, version), unique from the start, becomes the primary key.

Revision ID: ingestion_0006
Revises: ingestion_0005
Create Date: 2026-11-22 09:10:00
"""

from collections.abc import Sequence

from alembic import op

from secmaster_common.db.ddl import statements

revision: str = "ingestion_0006"
down_revision: str | None = "ingestion_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
DROP INDEX instruments_file_idx;
ALTER TABLE instruments DROP COLUMN id;
ALTER TABLE instruments DROP CONSTRAINT instruments_isin_mic_version_key;
ALTER TABLE instruments ADD CONSTRAINT instruments_pkey PRIMARY KEY (isin, mic, version)
"""

DOWNGRADE = """
ALTER TABLE instruments DROP CONSTRAINT instruments_pkey;
ALTER TABLE instruments ADD CONSTRAINT instruments_isin_mic_version_key
    UNIQUE (isin, mic, version);
ALTER TABLE instruments ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
CREATE INDEX instruments_file_idx ON instruments (file_id)
"""


def upgrade() -> None:
    for stmt in statements(UPGRADE):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in statements(DOWNGRADE):
        op.execute(stmt)
