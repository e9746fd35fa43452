"""pytest plugin: one fixture per real resource (`kafka_bootstrap`, `pg_dsn`), session-scoped,
with per-test isolation helpers (`unique_prefix`, `fresh_database`).

Resolution order, for both: the environment (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`),
else testcontainers when a Docker engine answers, else the local/embedded server:
the embedded Tansu broker; the Postgres on 127.0.0.1:5432 when it answers, else an
embedded Postgres in a throwaway directory. So `make test` passes on a bare machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from secmaster_common.embedded import EmbeddedBroker, EmbeddedPostgres, postgres_answers
from secmaster_common.testing.databases import create_service_database, drop_database


def _find_reference_dir() -> Path:
    env = os.environ.get("SECMASTER_REFERENCE_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "reference"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The public reference data set (`../shared/reference` beside the repo), read in place."""
    path = _find_reference_dir()
    if not path.is_dir():
        pytest.fail(
            f"reference data not found at {path}; set SECMASTER_REFERENCE_DIR to the "
            "shared/reference directory"
        )
    return path


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _testcontainers_available() -> bool:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka-protocol broker for this test session."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        yield env
        return
    if docker_answers() and _testcontainers_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin DSN (may create databases and roles) of a real Postgres server."""
    env = os.environ.get("DATABASE_URL")
    if env:
        yield env
        return
    if docker_answers() and _testcontainers_available():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as pg:
            yield pg.get_connection_url()
        return
    if postgres_answers("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def unique_prefix() -> str:
    """A topic/group prefix unique to this test, so tests share one broker without
    seeing each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def fresh_database(pg_dsn: str) -> AsyncIterator[str]:
    """A new database with the four schemas, roles and every service's migrations
    applied; yields its admin DSN and drops it afterwards."""
    dsn = await create_service_database(pg_dsn, f"sm_{uuid.uuid4().hex[:12]}")
    try:
        yield dsn
    finally:
        await drop_database(pg_dsn, dsn)


async def _wait_for_postgres(dsn: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            conn = await asyncpg.connect(dsn)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
