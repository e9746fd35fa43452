"""Each service's app role reads and writes its own schema and nothing else."""

from __future__ import annotations

import asyncpg
import pytest

from secmaster_common.services import service_role_dsn

pytestmark = pytest.mark.integration

SERVICES = ("ingestion", "enrichment", "pricing", "indexer")


async def test_app_roles_are_confined_to_their_own_schema(fresh_database: str) -> None:
    for svc in SERVICES:
        conn = await asyncpg.connect(service_role_dsn(fresh_database, svc, "app"))
        try:
            # Its own schema: read and write.
            await conn.execute(
                f"INSERT INTO {svc}.inbox (consumer, event_id, topic) "
                "VALUES ('t', gen_random_uuid(), 't')"
            )
            assert await conn.fetchval(f"SELECT count(*) FROM {svc}.inbox") == 1
            # No DDL, even in its own schema (migrations run as the migrator role).
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"CREATE TABLE {svc}.sneaky (id int)")
            for other in SERVICES:
                if other == svc:
                    continue
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetchval(f"SELECT count(*) FROM {other}.outbox")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(
                        f"INSERT INTO {other}.inbox (consumer, event_id, topic) "
                        "VALUES ('x', gen_random_uuid(), 'x')"
                    )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.sneaky (id int)")
        finally:
            await conn.close()


async def test_migrator_owns_only_its_schema(fresh_database: str) -> None:
    conn = await asyncpg.connect(service_role_dsn(fresh_database, "pricing", "migrator"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM pricing.bars_daily") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM enrichment.security_mappings")
    finally:
        await conn.close()
