"""Reading what is on a topic, for tests: every record from the start to the end offsets
at the time of the call, across all partitions, without joining a consumer group."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_records(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now on `topic`, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fresh metadata, so the partitions are known
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(records)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def read_envelopes(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message now on `topic` decoded as JSON, with its Kafka key under `_key`."""
    out = []
    for record in await read_records(bootstrap, topic):
        envelope = json.loads(record.value)
        envelope["_key"] = record.key.decode() if record.key else None
        out.append(envelope)
    return out


def header_map(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}
