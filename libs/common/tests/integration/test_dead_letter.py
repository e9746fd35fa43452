"""Poison messages land in `<topic>.dlq` with the error and origin in headers, and the
consumer keeps going - over the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker

from secmaster_common.events import Envelope, RefreshPrices, envelope_json, new_envelope
from secmaster_common.kafka import ensure_topics, make_broker, subscriber_options
from secmaster_common.settings import CommonSettings

pytestmark = pytest.mark.integration


async def _drain(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_poison_messages_go_to_dlq_and_consumer_keeps_going(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = unique_prefix + "pricing.refresh.requested.v1"
    await ensure_topics(kafka_bootstrap, [topic, topic + ".dlq"], partitions=1)
    settings = CommonSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
        consumer_max_attempts=3,
        consumer_retry_initial_s=0.01,
    )
    broker: KafkaBroker = make_broker(settings, client_id="dlq-test")
    handled: list[list[str]] = []
    calls = {"flaky": 0}

    @broker.subscriber(topic, **subscriber_options(settings, group_id=unique_prefix + "g"))
    async def handle(envelope: Envelope[RefreshPrices]) -> None:
        if envelope.payload.symbols == ["FLAKY"]:
            calls["flaky"] += 1
            if calls["flaky"] < 3:
                raise ConnectionError("database went away")
        if envelope.payload.symbols == ["ALWAYS_FAILS"]:
            raise ConnectionError("still down")
        handled.append(envelope.payload.symbols)

    def good(symbol: str) -> bytes:
        return envelope_json(
            new_envelope(
                RefreshPrices(symbols=[symbol], start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 2)),
                producer="test",
            )
        )

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait(topic, b"{not json", key=b"k1")
        await producer.send_and_wait(topic, json.dumps({"event_id": "nope"}).encode(), key=b"k2")
        await producer.send_and_wait(topic, good("FLAKY"))
        await producer.send_and_wait(topic, good("ALWAYS_FAILS"))
        await producer.send_and_wait(topic, good("AAPL"))
        dead = await _drain(kafka_bootstrap, topic + ".dlq", expected=3)
        for _ in range(100):
            if ["AAPL"] in handled:
                break
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
        await producer.stop()

    # The consumer moved past the poison messages and handled the good ones, the flaky
    # one after two transient failures.
    assert handled == [["FLAKY"], ["AAPL"]]
    assert calls["flaky"] == 3
    assert len(dead) == 3
    headers = [dict((k, v.decode()) for k, v in rec.headers) for rec in dead]
    assert [h["dlq_reason"] for h in headers] == ["permanent", "permanent", "retries_exhausted"]
    assert headers[0]["dlq_error_type"] == "ValidationError"
    assert headers[2]["dlq_error_type"] == "ConnectionError"
    assert headers[2]["dlq_attempts"] == "3"
    for h in headers:
        assert h["dlq_origin_topic"] == topic
        assert h["dlq_origin_partition"] == "0"
        assert h["dlq_error"]
    assert [int(h["dlq_origin_offset"]) for h in headers] == [0, 1, 3]
    assert dead[0].value == b"{not json" and dead[0].key == b"k1"


async def test_consumer_lag_counts_messages_not_yet_processed(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    from secmaster_common.runtime import CONSUMER_LAG, record_consumer_lag

    topic = unique_prefix + "market.bars.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    settings = CommonSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )
    broker = make_broker(settings, client_id="lag-test")
    release = asyncio.Event()
    seen: list[bytes] = []

    @broker.subscriber(topic, **subscriber_options(settings, group_id=unique_prefix + "lag"))
    async def handle(body: bytes) -> None:
        await release.wait()
        seen.append(body)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await broker.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"m{i}".encode())
        lag = 0
        for _ in range(50):  # the consumer needs its assignment and a fetch for highwater
            lag = await record_consumer_lag("lag-test", broker)
            if lag == 5:
                break
            await asyncio.sleep(0.2)
        assert lag == 5
        assert CONSUMER_LAG.labels("lag-test", topic, "0")._value.get() == 5
        release.set()
        for _ in range(100):
            if len(seen) == 5 and await record_consumer_lag("lag-test", broker) == 0:
                break
            await asyncio.sleep(0.1)
        assert len(seen) == 5
        assert await record_consumer_lag("lag-test", broker) == 0
    finally:
        release.set()
        await broker.stop()
        await producer.stop()
