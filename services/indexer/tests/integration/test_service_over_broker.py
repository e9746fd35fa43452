"""The indexer process's handlers over the real broker and Postgres: a definition and bars
published on their topics become levels on indexes.levels.v1, each input applied once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from indexer.app import bootstrap
from indexer.settings import IndexerSettings
from secmaster_common.events import (
    IndexDefinitionPublished,
    Payload,
    topics,
)
from secmaster_common.kafka import ensure_topics, publish_events
from secmaster_common.testing.kafka import read_envelopes

from .conftest import DAYS, Indexer, bars, definition, walk

pytestmark = pytest.mark.integration


async def _send(bootstrap_servers: str, prefix: str, items: list[tuple[Payload, str]]) -> None:
    await publish_events(bootstrap_servers, items, producer="test", topic_prefix=prefix)


async def test_definition_and_bars_on_topics_become_published_levels(
    kafka_bootstrap: str, unique_prefix: str, fresh_database: str, indexer: Indexer
) -> None:
    await ensure_topics(kafka_bootstrap, topics.all_topics_with_dlq(unique_prefix), partitions=1)
    x, y = walk(31), walk(32)
    definition_payload = IndexDefinitionPublished(
        index_id="xy",
        definition=definition("xy", universe={"constituents": ["X", "Y"]}).model_dump(mode="json"),
    )
    await _send(
        kafka_bootstrap,
        unique_prefix,
        [(definition_payload, "xy"), (bars("X", DAYS, x), "X"), (bars("Y", DAYS, y), "Y")],
    )
    settings = IndexerSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database,
        topic_prefix=unique_prefix,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        log_json=False,
    )
    runtime = bootstrap(settings).state.runtime
    await runtime.start()
    try:
        levels_topic = unique_prefix + topics.INDEXES_LEVELS
        deadline = time.monotonic() + 40
        published: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not published:
            await asyncio.sleep(0.5)
            published = await read_envelopes(kafka_bootstrap, levels_topic)
        # The same bars again (a redelivery with a new event id) change nothing.
        await _send(kafka_bootstrap, unique_prefix, [(bars("X", DAYS, x), "X")])
        await asyncio.sleep(2.0)
        published = await read_envelopes(kafka_bootstrap, levels_topic)
    finally:
        await runtime.stop()

    assert len(published) == 1, published
    payload = published[0]["payload"]
    assert (payload["index_id"], payload["version"]) == ("xy", 1)
    expected = [100 * (a / x[0] + b / y[0]) / 2 for a, b in zip(x, y, strict=True)]
    assert [lv["level"] for lv in payload["levels"]] == pytest.approx(expected, rel=1e-12)
    async with indexer.engine.connect() as conn:
        claimed = await conn.execute(
            sa.text("SELECT topic, count(*) FROM inbox GROUP BY topic ORDER BY topic")
        )
        assert dict(claimed.all()) == {topics.INDEXES_DEFINITIONS: 1, topics.MARKET_BARS: 3}
