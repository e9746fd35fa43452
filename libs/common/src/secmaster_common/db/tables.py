"""Tables every service owns in its own schema: outbox, inbox, shared rate-limit log.

The tables are schema-less here: each service's engine sets `search_path` to its own
schema, so the same definitions serve all four services. Alembic creates them through
`create_common_tables()` in each service's first migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    # NULL: `value` is one event. N: `value` holds N framed events of `topic` (see frames.py),
    # `key` is NULL and `headers` are the ones they share (each frame has its own event id).
    sa.Column("framed_events", sa.Integer),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)
# The relay scans unsent rows in id order; a partial index keeps that scan small.
sa.Index("outbox_unsent_idx", outbox.c.id, postgresql_where=outbox.c.sent_at.is_(None))

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column(
        "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

rate_limit_admissions = sa.Table(
    "rate_limit_admissions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("budget", sa.Text, nullable=False),
    sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index(
    "rate_limit_admissions_budget_idx",
    rate_limit_admissions.c.budget,
    rate_limit_admissions.c.admitted_at,
)


def create_common_tables(bind: sa.engine.Connection) -> None:
    """Create outbox, inbox and rate-limit tables in the connection's current schema."""
    metadata.create_all(bind)


def drop_common_tables(bind: sa.engine.Connection) -> None:
    metadata.drop_all(bind)
