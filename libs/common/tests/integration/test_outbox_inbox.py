"""The outbox commits with the state change and reaches the broker through the relay; the
inbox makes a redelivered event a no-op. Over the real broker and Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from secmaster_common.db.engine import make_engine
from secmaster_common.db.frames import BatchedFrameWriter, FrameWriter
from secmaster_common.db.relay import OutboxRelay, make_relay_producer
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Envelope, RefreshPrices, envelope_json, new_envelope, topics
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.kafka import header_map, read_records

pytestmark = pytest.mark.integration


def _refresh(symbol: str) -> RefreshPrices:
    return RefreshPrices(symbols=[symbol], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 3))


async def _add_framed_row(
    uow: UnitOfWork, symbols: list[str], *, correlation_id: str, batched_for: int | None = None
) -> list[Envelope[RefreshPrices]]:
    """One framed outbox row: a refresh event per symbol, keyed by it, in order; with
    `batched_for`, as record batches for a topic of that many partitions."""
    frames: FrameWriter | BatchedFrameWriter = FrameWriter()
    if batched_for is not None:
        shared = uow.framed_headers(
            event_type=RefreshPrices.event_type, correlation_id=correlation_id
        )
        frames = BatchedFrameWriter(
            partitions=batched_for, headers=[(k, v.encode()) for k, v in shared.items()]
        )
    envelopes = []
    for symbol in symbols:
        env = new_envelope(_refresh(symbol), producer="test", correlation_id=correlation_id)
        frames.add(str(env.event_id), symbol.encode(), envelope_json(env))
        envelopes.append(env)
    await uow.add_framed_events(
        frames.getvalue(),
        count=frames.count,
        topic=topics.PRICING_REFRESH_REQUESTED,
        event_type=RefreshPrices.event_type,
        correlation_id=correlation_id,
    )
    return envelopes


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """The pricing service's engine (any service's outbox would do)."""
    eng = make_engine(service_role_dsn(fresh_database, "pricing", "app"), schema="pricing")
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    relay_producer = make_relay_producer(kafka_bootstrap, client_id="t", enable_idempotence=False)
    await relay_producer.start()
    try:
        yield relay_producer
    finally:
        await relay_producer.stop()


async def test_outbox_rows_commit_with_the_transaction_and_relay_publishes_them_once(
    engine: AsyncEngine, producer: AIOKafkaProducer, kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = unique_prefix + topics.PRICING_REFRESH_REQUESTED
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
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


@pytest.mark.parametrize(
    "batched_for",
    [None, 3, 5],
    ids=["event-frames", "batches-for-the-topics-count", "batches-for-another-count"],
)
async def test_framed_rows_publish_one_record_per_event_in_order_on_the_default_partition(
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    unique_prefix: str,
    batched_for: int | None,
) -> None:
    topic = unique_prefix + topics.PRICING_REFRESH_REQUESTED
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    symbols = [f"S{n:03d}" for n in range(40)]
    async with UnitOfWork(engine, producer="test") as uow:
        first = await uow.publish(_refresh("S000"), key="S000", correlation_id="load-1")
        framed = await _add_framed_row(
            uow, symbols, correlation_id="load-1", batched_for=batched_for
        )
        last = await uow.publish(_refresh("S000"), key="S000", correlation_id="load-1")
        await uow.commit()
    written_ms = time.time() * 1000
    await asyncio.sleep(0.05)

    # A round takes whole rows until its budget is reached: here the single event and
    # the framed row (over budget, taken whole), then the last event.
    relay = OutboxRelay(
        engine,
        producer,
        service="pricing",
        topic_prefix=unique_prefix,
        batch_size=10,
        round_events=10,
    )
    assert await relay.backlog() == 42
    with capture_logs() as logs:
        assert await relay.publish_once() == 41
        assert await relay.publish_once() == 1
    assert await relay.backlog() == 0
    # batches made for another partition count are sent one by one, and that is said
    warned = [e for e in logs if e["log_level"] == "warning" and e.get("topic") == topic]
    assert [(e["partitions"], e["batched_for"]) for e in warned] == (
        [(3, 5)] if batched_for == 5 else []
    )
    # Where a plain send() of the same key goes: Kafka's default partitioner.
    partitions = sorted(await producer.partitions_for(topic))
    expected_partition = {
        s: DefaultPartitioner()(s.encode(), partitions, partitions) for s in symbols
    }

    got = await read_records(kafka_bootstrap, topic)
    assert len(got) == 42
    for record in got:
        assert record.partition == expected_partition[record.key.decode()]
    s000 = [header_map(r)["event_id"] for r in got if r.key == b"S000"]
    assert s000 == [str(first.event_id), str(framed[0].event_id), str(last.event_id)]
    by_id = {header_map(r)["event_id"]: r for r in got}
    for env in framed:
        record = by_id[str(env.event_id)]
        headers = header_map(record)
        assert headers["event_type"] == "pricing.refresh_requested"
        assert headers["correlation_id"] == "load-1"
        assert headers["producer"] == "test"
        decoded = Envelope[RefreshPrices].model_validate_json(record.value)
        assert decoded == env
    # Batches made for the topic's partition count are sent as they were written (their
    # records keep the time they were made); any other row is batched by the relay.
    as_written = [by_id[str(env.event_id)].timestamp < written_ms for env in framed]
    assert as_written == [batched_for == 3] * len(framed)


async def test_a_round_takes_its_rows_by_count_and_framed_rows_by_their_events(
    engine: AsyncEngine, producer: AIOKafkaProducer, kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = unique_prefix + topics.PRICING_REFRESH_REQUESTED
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    async with UnitOfWork(engine, producer="test") as uow:
        for n in range(12):
            await uow.publish(_refresh(f"P{n:02d}"), key=f"P{n:02d}")
        for row in range(3):
            symbols = [f"F{row}{n:02d}" for n in range(40)]
            await _add_framed_row(uow, symbols, correlation_id="load-2")
        await uow.commit()
    relay = OutboxRelay(
        engine,
        producer,
        service="pricing",
        topic_prefix=unique_prefix,
        batch_size=10,
        round_events=60,
    )
    # plain rows: ten a round; framed rows: whole rows until 60 events are reached
    rounds = [await relay.publish_once() for _ in range(5)]
    assert rounds == [10, 2 + 40 + 40, 40, 0, 0]
    assert len(await read_records(kafka_bootstrap, topic)) == 132
