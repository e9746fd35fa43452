"""DDL for the tables every service has (outbox, inbox, rate-limit log), for migrations.

Written out as DDL rather than `metadata.create_all()` so a migration stays frozen
when `tables.py` changes later.
"""

from __future__ import annotations

COMMON_TABLES_DDL = """
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    key text,
    headers jsonb NOT NULL,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
CREATE TABLE inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE rate_limit_admissions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    budget text NOT NULL,
    admitted_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_admissions_budget_idx ON rate_limit_admissions (budget, admitted_at);
"""

# Framed outbox rows (frames.py). A framed value is hundreds of kB: stored as it is
# (EXTERNAL), because pglz compression of it cost more than writing it; a service that
# writes many of them compresses them with lz4 instead (OUTBOX_LZ4_DDL).
OUTBOX_FRAMES_DDL = """
ALTER TABLE outbox ADD COLUMN framed_events integer CHECK (framed_events > 0);
ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTERNAL
"""
DROP_OUTBOX_FRAMES_DDL = "ALTER TABLE outbox DROP COLUMN framed_events"

# Framed values compressed with lz4 when the server was built with it (Debian's is): lz4
# costs less server time than writing them uncompressed, and a sixth of the WAL. Values
# already stored keep their form; new ones are compressed. One statement (a DO block),
# since `statements()` splits on semicolons.
OUTBOX_LZ4_DDL = """
DO $lz4$ BEGIN
  IF 'lz4' = ANY (SELECT unnest(enumvals) FROM pg_settings
                  WHERE name = 'default_toast_compression') THEN
    EXECUTE 'ALTER TABLE outbox ALTER COLUMN value SET COMPRESSION lz4, '
            'ALTER COLUMN value SET STORAGE EXTENDED';
  END IF;
END $lz4$
"""
OUTBOX_UNCOMPRESSED_DDL = """
ALTER TABLE outbox ALTER COLUMN value SET COMPRESSION default;
ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTERNAL
"""

DROP_COMMON_TABLES_DDL = "DROP TABLE rate_limit_admissions; DROP TABLE inbox; DROP TABLE outbox;"


def statements(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]
