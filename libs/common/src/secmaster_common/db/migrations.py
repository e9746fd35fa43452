"""Database bootstrap (schemas, roles) and per-service Alembic migrations.

Each service keeps its own Alembic environment in `services/<svc>/migrations/` with its
version table inside its own schema (alembic #659/#710: create the schema first and
filter autogenerate to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from secmaster_common.db.engine import make_engine

SERVICES = ("ingestion", "enrichment", "pricing", "indexer")


def bootstrap_sql() -> str:
    """The schemas-and-roles SQL shipped in `deploy/postgres/` (also used by docker-compose)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "deploy" / "postgres" / "10-schemas-and-roles.sql"
        if candidate.exists():
            return candidate.read_text()
    raise FileNotFoundError("deploy/postgres/10-schemas-and-roles.sql not found beside the package")


def _plain_dsn(dsn: str) -> str:
    return dsn.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(admin_dsn: str, database: str) -> None:
    """Create `database` on the server `admin_dsn` points at, unless it exists."""
    conn = await asyncpg.connect(_plain_dsn(admin_dsn))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def bootstrap_database(admin_dsn: str, *, passwords: dict[str, str] | None = None) -> None:
    """Create the four schemas and their migrator/app roles (idempotent); set passwords
    for the roles named in `passwords` (role -> password)."""
    conn = await asyncpg.connect(_plain_dsn(admin_dsn))
    try:
        # Role creation races when several databases bootstrap at once (tests):
        # serialise on a cluster-wide advisory lock.
        await conn.execute("SELECT pg_advisory_lock(424242)")
        try:
            await conn.execute(bootstrap_sql())
            for role, password in (passwords or {}).items():
                await conn.execute(
                    f"ALTER ROLE \"{role}\" PASSWORD '{password.replace(chr(39), chr(39) * 2)}'"
                )
        finally:
            await conn.execute("SELECT pg_advisory_unlock(424242)")
    finally:
        await conn.close()


def alembic_config(script_location: Path, *, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d%%(hour).2d%%(minute).2d%%(second).2d_%%(slug)s",
    )
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(
    *, migrator_dsn: str, schema: str, script_location: Path, revision: str = "head"
) -> None:
    """Run one service's migrations as its migrator role."""
    engine = make_engine(migrator_dsn, schema=schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_upgrade, script_location, schema, revision)
    finally:
        await engine.dispose()


def _run_upgrade(sync_conn: Any, script_location: Path, schema: str, revision: str) -> None:
    cfg = alembic_config(script_location, schema=schema)
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


def run_env(*, target_metadata: Any = None) -> None:
    """The body of every service's `migrations/env.py` (online mode only: migrations
    always run against a live database, as the service's migrator role)."""
    from alembic import context

    cfg = context.config
    schema: str = cfg.attributes["schema"]
    connection = cfg.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `secmaster migrate`, which passes a connection")
    # The schema normally exists (bootstrap creates it, owned by the migrator); PG checks
    # the CREATE privilege on the database even for IF NOT EXISTS, so only ask when missing.
    exists = connection.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    if exists is None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text(f'SET search_path TO "{schema}"'))

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return name == schema if type_ == "schema" else True

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
