"""A trace started upstream continues through a consumer into the events it writes to the
outbox, so the next service's span joins the same trace. Over the real broker and Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from secmaster_common.db.engine import make_engine
from secmaster_common.db.tables import outbox
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Envelope, RefreshPrices, envelope_json, new_envelope
from secmaster_common.kafka import ensure_topics, make_broker, subscription
from secmaster_common.services import service_role_dsn
from secmaster_common.settings import CommonSettings

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_trace_context_flows_from_consumed_message_into_outbox(
    fresh_database: str, kafka_bootstrap: str, unique_prefix: str
) -> None:
    settings = CommonSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
        topic_prefix=unique_prefix,
    )
    topic, opts = subscription(settings, service="pricing", topic="pricing.refresh.requested.v1")
    await ensure_topics(kafka_bootstrap, [topic, topic + ".dlq"], partitions=1)
    engine = make_engine(service_role_dsn(fresh_database, "pricing", "app"), schema="pricing")
    broker = make_broker(settings, client_id="pricing-trace-test")
    handled = asyncio.Event()

    @broker.subscriber(topic, **opts)
    async def handle(env: Envelope[RefreshPrices]) -> None:
        async with UnitOfWork(engine, producer="pricing") as uow:
            await uow.publish(env.payload, key="AAA", correlation_id=env.correlation_id)
            await uow.commit()
        handled.set()

    incoming = new_envelope(
        RefreshPrices(symbols=["AAA"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 3)),
        producer="upstream",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait(
            topic,
            envelope_json(incoming),
            headers=[
                *((k, v.encode()) for k, v in incoming.headers().items()),
                ("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()),
            ],
        )
        await asyncio.wait_for(handled.wait(), timeout=20)
        async with engine.connect() as conn:
            headers = (await conn.execute(sa.select(outbox.c.headers))).scalar_one()
    finally:
        await broker.stop()
        await producer.stop()
        await engine.dispose()

    # Same trace, a new parent span (the consumer's), and the correlation id carried along.
    version, trace_id, span_id, _flags = headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACE_ID)
    assert span_id != "00f067aa0ba902b7"
    assert headers["correlation_id"] == incoming.correlation_id
