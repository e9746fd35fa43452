"""Fixtures for end-to-end tests: the whole embedded stack, four service processes, over
the session's real broker and a fresh Postgres database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmaster.stack import Stack
from secmaster_common.testing.databases import create_service_database, drop_database


@pytest.fixture
def stack_factory(pg_dsn: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[object]:
    """Build and start a sandbox stack with its own database and topic prefix."""
    started: list[Stack] = []
    databases: list[str] = []

    def make(**kwargs: object) -> Stack:
        dsn = asyncio.run(create_service_database(pg_dsn, f"sm_e2e_{uuid.uuid4().hex[:10]}"))
        databases.append(dsn)
        stack = Stack(
            home=tmp_path / f"stack{len(started)}",
            sandbox=True,
            database_url=dsn,
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=f"e2e{uuid.uuid4().hex[:8]}.",
            extra_env={
                "PRICING_HISTORY_START": "2024-01-02",
                "PRICING_HISTORY_END": "2024-03-28",
                # Group joins on the embedded broker take about half the session timeout.
                "KAFKA_SESSION_TIMEOUT_MS": "2000",
                "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            },
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(stack)
        stack.start(say=lambda _m: None)
        return stack

    yield make
    for stack in started:
        stack.stop()
    for dsn in databases:
        asyncio.run(drop_database(pg_dsn, dsn))
