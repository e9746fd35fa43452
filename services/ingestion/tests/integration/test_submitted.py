"""The consumer of instruments.submitted.v1 over the real broker and Postgres: raw records
go through the instruments checks; bad ones are quarantined; a redelivery does nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.app import register_handlers
from ingestion.settings import IngestionSettings
from secmaster_common.events import InstrumentSubmitted, envelope_json, new_envelope
from secmaster_common.kafka import make_broker

pytestmark = pytest.mark.integration


async def test_submitted_records_are_validated_quarantined_and_deduplicated(
    engine: AsyncEngine,
    publish: Callable[[], Awaitable[int]],
    test_topics: Any,
    read: Any,
) -> None:
    settings = IngestionSettings(
        kafka_bootstrap_servers=test_topics.bootstrap,
        topic_prefix=test_topics.prefix,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )
    broker = make_broker(settings, client_id="ingestion-test")
    register_handlers(broker, engine=engine, settings=settings)

    good = new_envelope(
        InstrumentSubmitted(
            source="desk-a",
            record={"ISIN": "US0378331005", "Name": "Apple Inc", "MIC": "XNAS", "CCY": "usd"},
        ),
        producer="test",
    )
    bad = new_envelope(
        InstrumentSubmitted(source="desk-a", record={"isin": "US0378331006", "name": "Typo"}),
        producer="test",
    )
    # handled in order on one partition: once `last` is in the inbox, the redelivered
    # `good` before it was handled too
    last = new_envelope(
        InstrumentSubmitted(
            source="desk-b", record={"figi": "BBG000BPH459", "isin": "US5949181045"}
        ),
        producer="test",
    )
    messages = [envelope_json(e) for e in (good, bad, good, last)]
    producer = AIOKafkaProducer(bootstrap_servers=test_topics.bootstrap)
    await producer.start()
    await broker.start()
    try:
        for value in messages:
            await producer.send_and_wait(test_topics.submitted, value, key=b"US0378331005")
        async with engine.connect() as conn:
            for _ in range(150):
                handled = await conn.scalar(sa.text("SELECT count(*) FROM inbox"))
                quarantined = await conn.scalar(sa.text("SELECT count(*) FROM quarantine"))
                if handled == 3 and quarantined == 1:
                    break
                await asyncio.sleep(0.1)
    finally:
        await broker.stop()
        await producer.stop()

    assert handled == 3
    assert await publish() == 2
    events = await read(test_topics.instruments)
    assert [(e["_key"], e["payload"]["change"]) for e in events] == [
        ("US0378331005", "created"),
        ("US5949181045", "created"),
    ]
    assert events[1]["payload"]["other_ids"] == {"FIGI": "BBG000BPH459"}
    payload = events[0]["payload"]
    assert (payload["mic"], payload["currency"], payload["name"]) == ("XNAS", "USD", "Apple Inc")
    assert payload["source_file"] == "desk-a"
    assert events[0]["correlation_id"] == good.correlation_id
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.text("SELECT reason, detail, source, event_id FROM quarantine"))
        ).all()
        stored = await conn.scalar(sa.text("SELECT count(*) FROM instruments"))
    assert stored == 2
    assert len(rows) == 1
    reason, detail, source, event_id = rows[0]
    assert (reason, source, event_id) == ("no_usable_identifier", "desk-a", bad.event_id)
    assert "US0378331006" in detail and "bad_check_digit" in detail
