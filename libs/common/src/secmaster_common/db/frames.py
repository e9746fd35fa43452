"""Framed outbox rows: many events of one topic in a single outbox row, for bulk loads.

A file of a million records would otherwise write, index and later mark a million outbox
rows; Postgres spent more time on those rows (about 40 us each, server side) than on the
records themselves. A framed row holds the events back to back, each as

    event_id (36 ASCII bytes) | partition hash (u32) | key length (u16) | value length (u32)
    | key | value

The partition hash is Kafka's default murmur2 of the key (masked positive, as aiokafka's
`DefaultPartitioner` and the Java client compute it), taken where the events are built so
the relay only has to take it modulo the partition count. It is computed with numpy for
all keys of a row at once: aiokafka's pure-Python murmur2 cost more than the rest of the
framing. No library frames records like this for Postgres, so the format is written here;
it is an internal storage format, never on the wire.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["Frame", "FrameWriter", "frame_fields", "iter_frames", "partition_hashes"]

_HEAD = struct.Struct(">36sIHI")


class Frame(NamedTuple):
    event_id: bytes
    partition_hash: int
    key: bytes
    value: bytes


_SEED = 0x9747B28C
_M = np.uint32(0x5BD1E995)


def partition_hashes(keys: list[bytes]) -> list[int]:
    """Each key's murmur2 hash as Kafka's default partitioner uses it (masked positive,
    before the modulo), vectorised over keys of equal length."""
    out = [0] * len(keys)
    by_length: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(index)
    with np.errstate(over="ignore"):
        for length, indexes in by_length.items():
            data = np.frombuffer(b"".join(keys[i] for i in indexes), dtype=np.uint8)
            data = data.reshape(len(indexes), length)
            h = np.full(len(indexes), (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
            whole = length // 4
            if whole:
                words = np.ascontiguousarray(data[:, : whole * 4]).view("<u4")
                for column in range(whole):
                    k = words[:, column] * _M
                    k ^= k >> np.uint32(24)
                    k *= _M
                    h *= _M
                    h ^= k
            extra = length % 4
            tail = whole * 4
            if extra >= 3:
                h ^= data[:, tail + 2].astype(np.uint32) << np.uint32(16)
            if extra >= 2:
                h ^= data[:, tail + 1].astype(np.uint32) << np.uint32(8)
            if extra >= 1:
                h ^= data[:, tail].astype(np.uint32)
                h *= _M
            h ^= h >> np.uint32(13)
            h *= _M
            h ^= h >> np.uint32(15)
            for index, value in zip(indexes, (h & np.uint32(0x7FFFFFFF)).tolist(), strict=True):
                out[index] = value
    return out


class FrameWriter:
    """Collects events for one framed outbox row."""

    __slots__ = ("_event_ids", "_keys", "_values")

    def __init__(self) -> None:
        self._event_ids: list[str] = []
        self._keys: list[bytes] = []
        self._values: list[bytes] = []

    @property
    def count(self) -> int:
        return len(self._keys)

    def add(self, event_id: str, key: bytes, value: bytes) -> None:
        self._event_ids.append(event_id)
        self._keys.append(key)
        self._values.append(value)

    def getvalue(self) -> bytes:
        pack = _HEAD.pack
        parts: list[bytes] = []
        hashes = partition_hashes(self._keys)
        for event_id, hashed, key, value in zip(
            self._event_ids, hashes, self._keys, self._values, strict=True
        ):
            parts.append(pack(event_id.encode(), hashed, len(key), len(value)))
            parts.append(key)
            parts.append(value)
        return b"".join(parts)


def frame_fields(blob: bytes) -> Iterator[tuple[bytes, int, bytes, bytes]]:
    """The events of a framed row in the order they were added, each as a plain tuple
    (event id, partition hash, key, value): the relay reads a million of them in one drain,
    and building a Frame for each cost a fifth of its time."""
    offset = 0
    end = len(blob)
    size = _HEAD.size
    unpack = _HEAD.unpack_from
    while offset < end:
        event_id, hashed, key_len, value_len = unpack(blob, offset)
        key_at = offset + size
        value_at = key_at + key_len
        offset = value_at + value_len
        yield event_id, hashed, blob[key_at:value_at], blob[value_at:offset]
    if offset != end:
        raise ValueError(f"framed outbox row is cut: {offset} bytes read of {end}")


def iter_frames(blob: bytes) -> Iterator[Frame]:
    """The events of a framed row, in the order they were added."""
    return map(Frame._make, frame_fields(blob))
