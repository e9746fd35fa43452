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

A bulk load writes its rows in a second layout, `BatchedFrameWriter`: the events already
as Kafka record batches (v2, snappy-compressed), one or more per partition of the count
the topic is expected to have, so the relay sends them as they are. Its one Python
process otherwise spent about 3 us an event building batches after the load had
committed, while the parse workers, which build them here, run side by side during the
load. Compressed, the events take a sixth of the room in Postgres and on the wire, and
the broker's cost follows the bytes: FIRDS events went to the embedded broker at 2.2 us
each as they are (590 bytes), 1.0-1.3 us snappy-compressed (100 bytes) and 0.6 us
zstd-compressed (45 bytes). zstd's smaller drain (0.75 against 1.1 s at a million
events) cost the parse workers about a second more CPU, which the load waited for:
snappy, which every broker of this format reads, came out ahead. The records carry the
time the piece was framed (the events' time). The row starts with `_BATCHED_MAGIC`,
which no row of the first layout does (those start with a hex digit of an event id):

    magic (4 bytes) | partitions (u16) | events (u16 partition index each, in the order
    added) | batches: partition index (u16) | records (u32) | length (u32) | batch
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from secmaster_common.events.envelope import HEADER_EVENT_ID

__all__ = [
    "BatchedFrameWriter",
    "BatchedRow",
    "Frame",
    "FrameWriter",
    "frame_fields",
    "is_batched",
    "iter_frames",
    "partition_hashes",
    "read_batched",
]

_HEAD = struct.Struct(">36sIHI")
_BATCHED_MAGIC = b"\x00KRB"
_BATCHED_HEAD = struct.Struct(">4sHI")  # magic, partitions, events
_BATCH_HEAD = struct.Struct(">HII")  # partition index, records, length
# Uncompressed bytes a batch may take before the next one is started: compressed, it stays
# far under the 1 MB a Kafka broker accepts by default (message.max.bytes).
MAX_BATCH_BYTES = 1 << 20


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
    hashes: list[int] = _hash_array(keys).tolist()
    return hashes


def _hash_array(keys: list[bytes]) -> np.ndarray:
    lengths = set(map(len, keys))
    if len(lengths) == 1:  # the usual case (ISINs, symbols of one kind): no grouping
        return _murmur2_equal_length(b"".join(keys), len(keys), lengths.pop())
    out = np.zeros(len(keys), dtype=np.uint32)
    by_length: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(index)
    for length, indexes in by_length.items():
        joined = b"".join(keys[i] for i in indexes)
        out[indexes] = _murmur2_equal_length(joined, len(indexes), length)
    return out


def _murmur2_equal_length(joined: bytes, count: int, length: int) -> np.ndarray:
    """Kafka's murmur2 (masked positive) of `count` keys of `length` bytes, back to back."""
    data = np.frombuffer(joined, dtype=np.uint8).reshape(count, length)
    with np.errstate(over="ignore"):
        h = np.full(count, (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
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
    return h & np.uint32(0x7FFFFFFF)


class _Events:
    """The events added to a framed row, in order."""

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


class FrameWriter(_Events):
    """Collects events for one framed outbox row."""

    __slots__ = ()

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


class BatchedFrameWriter(_Events):
    """Collects events for one framed outbox row of the second layout (see the module
    docstring): Kafka record batches for a topic of `partitions` partitions, each record
    with the `headers` the events share and its own event id last."""

    __slots__ = ("_headers", "_partitions")

    def __init__(self, *, partitions: int, headers: Sequence[tuple[str, bytes]]) -> None:
        if not 0 < partitions < 1 << 16:
            raise ValueError(f"a topic of {partitions} partitions")
        super().__init__()
        self._partitions = partitions
        self._headers = list(headers)

    def getvalue(self) -> bytes:
        count = self._partitions
        place_array = (_hash_array(self._keys) % count).astype(">u2")
        places = place_array.tolist()
        shared = self._headers
        finished: list[bytes] = []
        builders: dict[int, DefaultRecordBatchBuilder] = {}
        offsets: dict[int, int] = {}
        for partition, event_id, key, value in zip(
            places, self._event_ids, self._keys, self._values, strict=True
        ):
            builder = builders.get(partition)
            headers = [*shared, (HEADER_EVENT_ID, event_id.encode())]
            if (
                builder is None
                or builder.append(offsets[partition], None, key, value, headers) is None
            ):
                if builder is not None:  # full: finish it, start the next one
                    finished.append(_batch(partition, offsets[partition], builder))
                builder = builders[partition] = _builder()
                builder.append(0, None, key, value, headers)  # an empty batch takes any record
                offsets[partition] = 0
            offsets[partition] += 1
        finished.extend(_batch(p, offsets[p], builder) for p, builder in builders.items())
        head = _BATCHED_HEAD.pack(_BATCHED_MAGIC, count, len(places))
        return b"".join((head, place_array.tobytes(), *finished))


def _builder() -> DefaultRecordBatchBuilder:
    # magic 2, no transaction, no producer id (the relay's producer sets its own, if any)
    return DefaultRecordBatchBuilder(
        2, DefaultRecordBatch.CODEC_SNAPPY, 0, -1, -1, -1, MAX_BATCH_BYTES
    )


def _batch(partition: int, records: int, builder: DefaultRecordBatchBuilder) -> bytes:
    batch = bytes(builder.build())
    return _BATCH_HEAD.pack(partition, records, len(batch)) + batch


class BatchedRow(NamedTuple):
    """A framed row of the second layout: the partition count its batches were made for,
    each event's partition index in the order added, and (partition index, records,
    batch) of every batch, in the order each partition's batches are to be sent."""

    partitions: int
    places: list[int]
    batches: list[tuple[int, int, bytes]]


def is_batched(blob: bytes) -> bool:
    return blob[:4] == _BATCHED_MAGIC


def read_batched(blob: bytes) -> BatchedRow:
    magic, partitions, events = _BATCHED_HEAD.unpack_from(blob)
    if magic != _BATCHED_MAGIC:
        raise ValueError("not a framed row of record batches")
    offset = _BATCHED_HEAD.size + 2 * events
    places = np.frombuffer(blob, dtype=">u2", count=events, offset=_BATCHED_HEAD.size).tolist()
    batches = []
    end = len(blob)
    while offset < end:
        partition, records, length = _BATCH_HEAD.unpack_from(blob, offset)
        offset += _BATCH_HEAD.size + length
        batches.append((partition, records, blob[offset - length : offset]))
    if offset != end or sum(records for _, records, _ in batches) != events:
        raise ValueError(f"framed outbox row is cut: {offset} bytes read of {end}")
    beyond = [place for place, _, _ in batches if place >= partitions]
    if beyond:
        raise ValueError(f"framed outbox row has a batch for partition {beyond[0]} of {partitions}")
    return BatchedRow(partitions, places, batches)


def _batched_fields(blob: bytes) -> Iterator[tuple[bytes, int, bytes, bytes]]:
    row = read_batched(blob)
    by_partition: dict[int, deque[tuple[bytes, bytes, bytes]]] = {}
    for partition, _records, batch in row.batches:
        queue = by_partition.setdefault(partition, deque())
        for record in DefaultRecordBatch(batch):
            event_id = next(v for k, v in reversed(record.headers) if k == HEADER_EVENT_ID)
            queue.append((event_id or b"", record.key or b"", record.value or b""))
    events = [by_partition[partition].popleft() for partition in row.places]
    hashes = partition_hashes([key for _, key, _ in events])
    for (event_id, key, value), hashed in zip(events, hashes, strict=True):
        yield event_id, hashed, key, value


def frame_fields(blob: bytes) -> Iterator[tuple[bytes, int, bytes, bytes]]:
    """The events of a framed row (either layout) in the order they were added, each as a
    plain tuple (event id, partition hash, key, value): the relay reads a million of them
    in one drain, and building a Frame for each cost a fifth of its time."""
    if is_batched(blob):
        yield from _batched_fields(blob)
        return
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
