"""The outbox relay: publishes committed outbox rows to Kafka in id order, then marks them sent.

At-least-once by design: a crash between publish and mark re-sends the rows, as does a
server crash that loses a mark (marks commit without waiting for the WAL flush), and every
consumer's inbox drops the duplicate by `event_id`. Only one relay per service publishes
at a time (a Postgres advisory lock), which keeps per-key order across replicas.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.record._crecords.cutil import crc32c_cython
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.frames import frame_fields, is_batched, read_batched
from secmaster_common.db.tables import outbox
from secmaster_common.events.envelope import HEADER_EVENT_ID
from secmaster_common.logging import get_logger
from secmaster_common.settings import OUTBOX_ROUND_EVENTS

log = get_logger(__name__)

OUTBOX_PUBLISHED = Counter(
    "secmaster_outbox_published_total", "Outbox events published to Kafka", ["service"]
)
OUTBOX_BACKLOG = Gauge("secmaster_outbox_backlog", "Outbox events not yet published", ["service"])


# Unsent rows in id order, at most `rows` of them, whole rows until about `events` events
# are taken (a framed row counts its events), so one round holds a bounded number of events
# in memory.
_PENDING_ROWS = sa.text(
    "WITH pending AS ("
    " SELECT id, coalesce(framed_events, 1) AS n,"
    " sum(coalesce(framed_events, 1)) OVER (ORDER BY id) AS running"
    " FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT :rows)"
    " SELECT o.id, o.topic, o.key, o.headers, o.value, o.framed_events"
    " FROM pending p JOIN outbox o ON o.id = p.id"
    " WHERE p.running - p.n < :events ORDER BY o.id"
)


def _lock_key(service: str) -> int:
    # pg advisory locks take a bigint; a stable hash of the service name is enough.
    return zlib.crc32(f"outbox-relay:{service}".encode())


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        service: str,
        topic_prefix: str = "",
        batch_size: int = 1000,
        round_events: int = OUTBOX_ROUND_EVENTS,
        poll_interval_s: float = 0.2,
    ) -> None:
        """A round publishes at most `batch_size` rows and, of framed rows (many events
        each), whole rows up to about max(batch_size, round_events) events."""
        self.engine = engine
        self.producer = producer
        self.service = service
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.round_events = max(batch_size, round_events)
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._repartitioned: set[str] = set()  # topics warned about (see _send_batched)

    def wake(self) -> None:
        """Publish now instead of at the next poll (called after a local commit)."""
        self._wake.set()

    async def publish_once(self) -> int:
        """Publish one round (see __init__); returns the number of events published."""
        async with self.engine.connect() as conn, conn.begin():
            locked = await conn.scalar(
                sa.select(sa.func.pg_try_advisory_xact_lock(_lock_key(self.service)))
            )
            if not locked:
                return 0
            # Marking rows sent need not wait for the WAL to reach the disk: a mark lost in a
            # server crash only sends its rows again, which at-least-once delivery already
            # allows (every consumer's inbox drops the duplicate). Waiting for the flush of
            # every round cost a tenth of a two-million-event drain while the server was
            # still writing out the load.
            await conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            rows = (
                await conn.execute(
                    _PENDING_ROWS, {"rows": self.batch_size, "events": self.round_events}
                )
            ).all()
            if not rows:
                OUTBOX_BACKLOG.labels(self.service).set(0)
                return 0
            futures: list[asyncio.Future[Any]] = []
            events = 0
            for row in rows:
                topic = self.topic_prefix + row.topic
                if row.framed_events is None:
                    futures.append(
                        await self.producer.send(
                            topic,
                            value=row.value,
                            key=row.key.encode() if row.key is not None else None,
                            headers=[(k, str(v).encode()) for k, v in row.headers.items()],
                        )
                    )
                    events += 1
                elif is_batched(row.value):
                    events += await self._send_batched(topic, row.headers, row.value, futures)
                else:
                    events += await self._send_framed(
                        topic, row.headers, frame_fields(row.value), futures
                    )
            await asyncio.gather(*futures)
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(sent_at=sa.func.now())
            )
        OUTBOX_PUBLISHED.labels(self.service).inc(events)
        return events

    async def _send_batched(
        self, topic: str, headers: dict[str, Any], blob: bytes, futures: list[Any]
    ) -> int:
        """Send a framed row of record batches as they are (frames.py), when the topic has
        the partition count they were made for; else its events one by one, partitioned
        for the count it has."""
        partitions = sorted(await self.producer.partitions_for(topic))
        row = read_batched(blob)
        if row.partitions != len(partitions):
            if topic not in self._repartitioned:
                self._repartitioned.add(topic)
                log.warning(
                    "topic has another partition count than bulk events were batched for; "
                    "sending them one by one (set KAFKA_TOPIC_PARTITIONS to the topic's count)",
                    topic=topic,
                    partitions=len(partitions),
                    batched_for=row.partitions,
                )
            return await self._send_framed(topic, headers, frame_fields(blob), futures)
        for place, records, batch in row.batches:
            futures.append(
                await self.producer.send_batch(
                    ReadyBatch(batch, records), topic, partition=partitions[place]
                )
            )
        return len(row.places)

    async def _send_framed(
        self,
        topic: str,
        headers: dict[str, Any],
        frames: Iterable[tuple[bytes, int, bytes, bytes]],
        futures: list[Any],
    ) -> int:
        """Send a framed row's events through per-partition record batches (aiokafka builds
        them in C, where `send()` goes through Python for every event). The frames are read
        in place (see frames.py): a million events pass through this loop in one drain."""
        partitions = sorted(await self.producer.partitions_for(topic))
        shared = [(k, str(v).encode()) for k, v in headers.items() if k != HEADER_EVENT_ID]
        open_batches: dict[int, Any] = {}
        count = 0
        for event_id, partition_hash, key, value in frames:
            partition = partitions[partition_hash % len(partitions)]
            event_headers = [*shared, (HEADER_EVENT_ID, event_id)]
            batch = open_batches.get(partition)
            while batch is None or (
                batch.append(key=key, value=value, timestamp=None, headers=event_headers) is None
            ):
                if batch is not None:  # full: queue it and start the next one
                    if not batch.record_count():
                        raise ValueError(f"an event of {len(value)} bytes fits no batch")
                    futures.append(
                        await self.producer.send_batch(batch, topic, partition=partition)
                    )
                batch = open_batches[partition] = self.producer.create_batch()
            count += 1
        # Queue every open batch now, before any later row's events for the same partition.
        for partition, batch in open_batches.items():
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        return count

    async def backlog(self) -> int:
        async with self.engine.connect() as conn:
            n = await conn.scalar(
                sa.select(sa.func.sum(sa.func.coalesce(outbox.c.framed_events, 1))).where(
                    outbox.c.sent_at.is_(None)
                )
            )
        OUTBOX_BACKLOG.labels(self.service).set(n or 0)
        return int(n or 0)

    async def run(self) -> None:
        """Publish forever; errors are logged and retried after the poll interval."""
        while True:
            try:
                n = await self.publish_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay round failed", error=repr(exc))
                n = 0
            if n >= self.batch_size:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            except TimeoutError:
                pass


# Where a v2 record batch keeps its CRC-32C and the producer fields the CRC covers.
_CRC_AT, _CRC_FROM, _PRODUCER_AT = 17, 21, 43
_PRODUCER_FIELDS = struct.Struct(">qhi")  # producer id, producer epoch, base sequence


class ReadyBatch:
    """A record batch made before the relay ran (frames.BatchedFrameWriter), handed to
    aiokafka's `send_batch` in place of the BatchBuilder it would fill: this is the part
    of aiokafka 0.14's BatchBuilder that its accumulator and sender call. aiokafka has no
    way to send bytes that are already a batch, hence this class."""

    def __init__(self, batch: bytes, records: int) -> None:
        self._buffer = bytearray(batch)
        self._records = records

    def append(self, **_: Any) -> None:
        return None  # closed: aiokafka's send() must start a batch of its own

    def close(self) -> None:
        pass

    def closed(self) -> bool:
        return True

    def record_count(self) -> int:
        return self._records

    def size(self) -> int:
        return len(self._buffer)

    def _set_producer_state(
        self, producer_id: int, producer_epoch: int, base_sequence: int
    ) -> None:
        """An idempotent producer's id, epoch and sequence, with the CRC that covers them."""
        _PRODUCER_FIELDS.pack_into(
            self._buffer, _PRODUCER_AT, producer_id, producer_epoch, base_sequence
        )
        crc = crc32c_cython(memoryview(self._buffer)[_CRC_FROM:])
        struct.pack_into(">I", self._buffer, _CRC_AT, crc)

    def _build(self) -> bytearray:
        return self._buffer


def make_relay_producer(
    bootstrap_servers: str, *, client_id: str, enable_idempotence: bool
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=f"{client_id}-relay",
        acks="all",
        enable_idempotence=enable_idempotence,
        # A relay round queues all its records before it waits, so lingering only delays
        # them: with 5 ms, a framed row's part-filled batches waited 5 ms each.
        linger_ms=0,
        max_batch_size=256 * 1024,
    )


async def drain_outbox(
    *,
    engine: AsyncEngine,
    service: str,
    bootstrap_servers: str,
    topic_prefix: str = "",
    enable_idempotence: bool = False,
    batch_size: int = 20_000,
    timeout_s: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run a service's outbox relay until no unsent row is left (what a CLI does after its
    commits, so events reach Kafka even when the service is not running); returns the rows
    this call sent. It takes the same advisory lock as the service's own relay, so with the
    service running too, one of them publishes at a time and per-key order holds.

    Raises TimeoutError when rows are still unsent after `timeout_s` (another relay holds
    the lock and is not finishing), and the producer's error when the broker is unreachable
    (the rows stay in the outbox for the next relay).
    """
    producer = make_relay_producer(
        bootstrap_servers, client_id=f"{service}-cli", enable_idempotence=enable_idempotence
    )
    await producer.start()
    try:
        relay = OutboxRelay(
            engine, producer, service=service, topic_prefix=topic_prefix, batch_size=batch_size
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        sent = 0
        while True:
            n = await relay.publish_once()
            if n:
                sent += n
                if progress is not None:
                    progress(n)
                continue
            left = await relay.backlog()
            if left == 0:
                return sent
            # Another relay holds the lock (the running service): it is publishing them.
            if loop.time() > deadline:
                raise TimeoutError(f"{left} outbox rows still unsent after {timeout_s:.0f}s")
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
