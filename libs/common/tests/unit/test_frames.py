"""Framed outbox rows: what goes in comes out in order, and each event's partition hash is
exactly the one Kafka's default partitioner uses for its key."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2

from secmaster_common.db.frames import FrameWriter, frame_fields, iter_frames, partition_hashes


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
