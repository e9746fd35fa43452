"""Framed outbox rows: many events of one topic in a single outbox row, for bulk loads.

A file of a million records would otherwise write, index and later mark a million outbox
rows; Postgres spent more time on those rows (about 40 us each, server side) than on the
records themselves. A framed row holds the events back to back, each as

    event_id (36 ASCII bytes) | partition hash (u32) | key length (u16) | value length (u32)
    | key | value

The partition hash is Kafka's default murmur2 of the key (masked positive, as aiokafka's
`DefaultPartitioner` and the Java client compute it), taken where the events are built so
the relay only has to take it modulo the partition count. No library frames records like
this for Postgres, so the format is written here; it is an internal storage format, never
on the wire.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from aiokafka.partitioner import murmur2

__all__ = ["Frame", "FrameWriter", "iter_frames", "partition_hash"]

_HEAD = struct.Struct(">36sIHI")


class Frame(NamedTuple):
    event_id: bytes
    partition_hash: int
    key: bytes
    value: bytes


def partition_hash(key: bytes) -> int:
    """The key's murmur2 hash as Kafka's default partitioner uses it (before the modulo)."""
    return int(murmur2(key)) & 0x7FFFFFFF


class FrameWriter:
    """Collects events for one framed outbox row."""

    __slots__ = ("_parts", "count")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.count = 0

    def add(self, event_id: str, key: bytes, value: bytes) -> None:
        self._parts.append(_HEAD.pack(event_id.encode(), partition_hash(key), len(key), len(value)))
        self._parts.append(key)
        self._parts.append(value)
        self.count += 1

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def iter_frames(blob: bytes) -> Iterator[Frame]:
    """The events of a framed row, in the order they were added."""
    view = memoryview(blob)
    offset = 0
    end = len(blob)
    size = _HEAD.size
    unpack = _HEAD.unpack_from
    while offset < end:
        event_id, hashed, key_len, value_len = unpack(view, offset)
        offset += size
        key = bytes(view[offset : offset + key_len])
        offset += key_len
        value = bytes(view[offset : offset + value_len])
        offset += value_len
        yield Frame(event_id, hashed, key, value)
    if offset != end:
        raise ValueError(f"framed outbox row is cut: {offset} bytes read of {end}")
