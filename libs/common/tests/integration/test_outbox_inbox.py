"""The outbox commits with the state change and reaches the broker through the relay; the
inbox makes a redelivered event a no-op. Over the real broker and Postgres."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import OutboxRelay, make_relay_producer
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Envelope, RefreshPrices, topics
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.kafka import header_map, read_records

pytestmark = pytest.mark.integration


def _refresh(symbol: str) -> RefreshPrices:
    return RefreshPrices(symbols=[symbol], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 3))


async def test_outbox_rows_commit_with_the_transaction_and_relay_publishes_them_once(
    fresh_database: str, kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = unique_prefix + topics.PRICING_REFRESH_REQUESTED
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    engine = make_engine(service_role_dsn(fresh_database, "pricing", "app"), schema="pricing")
    producer = make_relay_producer(kafka_bootstrap, client_id="t", enable_idempotence=False)
    await producer.start()
    try:
        async with UnitOfWork(engine, producer="test") as uow:
            sent = [await uow.publish(_refresh(s), key=s) for s in ("AAA", "BBB", "CCC")]
            await uow.commit()
        # A failed transaction leaves no outbox row behind.
        with pytest.raises(RuntimeError):
            async with UnitOfWork(engine, producer="test") as uow:
                await uow.publish(_refresh("LOST"), key="LOST")
                raise RuntimeError("the state change failed")
        # Leaving the block without commit() also rolls back.
        async with UnitOfWork(engine, producer="test") as uow:
            await uow.publish(_refresh("NOCOMMIT"), key="NOCOMMIT")

        relay = OutboxRelay(engine, producer, service="pricing", topic_prefix=unique_prefix)
        assert await relay.backlog() == 3
        assert await relay.publish_once() == 3
        assert await relay.publish_once() == 0
        assert await relay.backlog() == 0
    finally:
        await producer.stop()
        await engine.dispose()

    got = await read_records(kafka_bootstrap, topic)
    assert len(got) == 3
    by_key = {r.key.decode(): r for r in got}
    assert sorted(by_key) == ["AAA", "BBB", "CCC"]
    for env in sent:
        record = by_key[env.payload.symbols[0]]
        headers = header_map(record)
        assert headers["event_id"] == str(env.event_id)
        assert headers["event_type"] == "pricing.refresh_requested"
        decoded = Envelope[RefreshPrices].model_validate_json(record.value)
        assert decoded.event_id == env.event_id
        assert decoded.payload == env.payload


async def test_inbox_makes_redelivery_a_no_op(fresh_database: str) -> None:
    engine = make_engine(service_role_dsn(fresh_database, "indexer", "app"), schema="indexer")
    event_id = uuid.uuid4()
    try:
        # A claim in a rolled-back transaction does not count: the effect did not happen.
        async with UnitOfWork(engine, producer="t") as uow:
            assert await uow.claim(consumer="indexer", event_id=event_id, topic="x")
        async with UnitOfWork(engine, producer="t") as uow:
            assert await uow.claim(consumer="indexer", event_id=event_id, topic="x")
            await uow.commit()
        async with UnitOfWork(engine, producer="t") as uow:
            assert not await uow.claim(consumer="indexer", event_id=event_id, topic="x")
        # Another consumer has its own inbox entry for the same event.
        async with UnitOfWork(engine, producer="t") as uow:
            assert await uow.claim(consumer="indexer-replay", event_id=event_id, topic="x")
    finally:
        await engine.dispose()
