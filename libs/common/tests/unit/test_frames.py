"""Framed outbox rows, both layouts: what goes in comes out in order, and each event's
partition is exactly the one Kafka's default partitioner gives its key."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from secmaster_common.db import frames
from secmaster_common.db.frames import (
    BatchedFrameWriter,
    FrameWriter,
    frame_fields,
    is_batched,
    iter_frames,
    partition_hashes,
    read_batched,
)
from secmaster_common.db.relay import ReadyBatch


def test_partition_hashes_equal_aiokafkas_murmur2_for_keys_of_every_length() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(rng.randint(0, 40)) for _ in range(3000)]
    keys += [b"", b"a", b"ab", b"abc", b"US0378331005", "Ünïcode".encode()]
    assert partition_hashes(keys) == [murmur2(k) & 0x7FFFFFFF for k in keys]


def test_frames_come_back_in_order_with_their_ids_keys_and_values() -> None:
    writer = FrameWriter()
    events = [
        (f"{n:08d}-0000-4000-8000-000000000000", f"K{n}".encode(), b"v" * n) for n in range(50)
    ]
    for event_id, key, value in events:
        writer.add(event_id, key, value)
    assert writer.count == 50
    frames = list(iter_frames(writer.getvalue()))
    assert [(f.event_id.decode(), f.key, f.value) for f in frames] == events
    assert [f.partition_hash for f in frames] == [murmur2(k) & 0x7FFFFFFF for _, k, _ in events]
    assert list(frame_fields(writer.getvalue())) == [tuple(f) for f in frames]


def test_a_cut_framed_row_is_refused() -> None:
    writer = FrameWriter()
    writer.add("00000000-0000-4000-8000-000000000000", b"key", b"value")
    with pytest.raises(ValueError, match="cut"):
        list(iter_frames(writer.getvalue()[:-2]))
    with pytest.raises(ValueError, match="cut"):
        list(frame_fields(writer.getvalue()[:-2]))


def _batched_events(count: int) -> list[tuple[str, bytes, bytes]]:
    return [
        (f"{n:08d}-0000-4000-8000-000000000000", f"K{n % 37}".encode(), f"v{n}".encode() * 9)
        for n in range(count)
    ]


SHARED = [("event_type", b"thing.recorded"), ("correlation_id", b"file:1")]


def test_batched_rows_hold_kafka_batches_partitioned_as_a_plain_send_would() -> None:
    events = _batched_events(300)
    writer = BatchedFrameWriter(partitions=3, headers=SHARED)
    for event in events:
        writer.add(*event)
    blob = writer.getvalue()
    assert is_batched(blob) and not is_batched(_plain_row())
    row = read_batched(blob)
    assert row.partitions == 3 and len(row.places) == writer.count == 300
    # each batch is a valid, snappy-compressed Kafka batch of records for its partition,
    # every record with the shared headers and its own event id last
    seen = []
    for place, records, batch in row.batches:
        parsed = DefaultRecordBatch(batch)
        assert parsed.validate_crc() and parsed.compression_type == parsed.CODEC_SNAPPY
        got = list(parsed)
        assert len(got) == records
        for offset, record in enumerate(got):
            assert record.offset == offset
            assert (murmur2(record.key) & 0x7FFFFFFF) % 3 == place
            assert record.headers[:-1] == SHARED and record.headers[-1][0] == "event_id"
            seen.append((record.headers[-1][1].decode(), record.key, record.value))
    assert sorted(seen) == sorted(events)
    # read back as events, in the order they were added
    assert [(f[0].decode(), f[2], f[3]) for f in frame_fields(blob)] == events
    assert [f[1] for f in frame_fields(blob)] == [murmur2(k) & 0x7FFFFFFF for _, k, _ in events]


def test_a_partition_s_events_past_one_batch_go_into_the_next_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frames, "MAX_BATCH_BYTES", 2_000)
    events = _batched_events(200)
    writer = BatchedFrameWriter(partitions=1, headers=SHARED)
    for event in events:
        writer.add(*event)
    blob = writer.getvalue()
    row = read_batched(blob)
    assert len(row.batches) > 5
    keys = [r.key for _, _, batch in row.batches for r in DefaultRecordBatch(batch)]
    assert keys == [k for _, k, _ in events]
    assert [(f[0].decode(), f[2], f[3]) for f in frame_fields(blob)] == events


def test_a_cut_or_damaged_batched_row_is_refused() -> None:
    writer = BatchedFrameWriter(partitions=2, headers=SHARED)
    for event in _batched_events(10):
        writer.add(*event)
    blob = writer.getvalue()
    with pytest.raises(ValueError, match="cut"):
        read_batched(blob[:-2])
    # the same batches claimed for a topic of one partition
    with pytest.raises(ValueError, match="partition 1 of 1"):
        read_batched(blob[:4] + b"\x00\x01" + blob[6:])


def _plain_row() -> bytes:
    writer = FrameWriter()
    writer.add("00000000-0000-4000-8000-000000000000", b"key", b"value")
    return writer.getvalue()


def test_a_ready_batch_takes_an_idempotent_producers_state_as_aiokafka_writes_it() -> None:
    def built(state: tuple[int, int, int] | None) -> bytes:
        builder = DefaultRecordBatchBuilder(
            2, DefaultRecordBatch.CODEC_SNAPPY, 0, -1, -1, -1, 1 << 20
        )
        for n in range(20):
            builder.append(n, 1_700_000_000_000 + n, b"k%d" % n, b"v" * n, [("event_id", b"x")])
        if state is not None:
            builder.set_producer_state(*state)
        return bytes(builder.build())

    ready = ReadyBatch(built(None), 20)
    ready._set_producer_state(4711, 3, 120)
    assert bytes(ready._build()) == built((4711, 3, 120))
    parsed = DefaultRecordBatch(bytes(ready._build()))
    assert parsed.validate_crc()
    assert (parsed.producer_id, parsed.producer_epoch, parsed.base_sequence) == (4711, 3, 120)
    assert ready.record_count() == 20 and ready.closed() and ready.append() is None
