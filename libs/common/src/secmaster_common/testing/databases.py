"""Create and drop throwaway service databases (schemas, roles, migrations) for tests."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from secmaster_common.db.migrations import bootstrap_database, ensure_database


def with_database(dsn: str, database: str) -> str:
    return make_url(dsn).set(database=database).render_as_string(hide_password=False)


async def create_service_database(server_dsn: str, name: str) -> str:
    """Create database `name`, bootstrap schemas and roles, run every service's migrations."""
    from secmaster_common.services import migrate_all

    await ensure_database(server_dsn, name)
    dsn = with_database(server_dsn, name)
    await bootstrap_database(dsn)
    await migrate_all(dsn)
    return dsn


async def drop_database(server_dsn: str, dsn: str) -> None:
    name = make_url(dsn).database
    conn = await asyncpg.connect(server_dsn.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
