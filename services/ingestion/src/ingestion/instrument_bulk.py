"""Bulk load of a large FIRDS file: the file is cut into pieces of whole records, worker
processes parse, validate and encode each piece (COPY rows, framed events), and this
process streams them into Postgres in file order, in one transaction.

The pieces are encoded as if every (ISIN, MIC) were new (versions 1, `created` or
terminated/cancelled events) and copied straight into the table inside a savepoint. The
unique index on current versions checks that assumption: at the first known key the piece
is undone, and from then on every piece goes through a staging table and is compared with
the current versions in bulk (an unchanged record is dropped with its event, a changed one
becomes the next version and a `modified` event). A key twice within one piece stops the
load (rolled back) and the caller reads the file record by record.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg

from ingestion.adapters import instruments as store
from ingestion.adapters import repository
from ingestion.adapters.instruments import StagedMerge
from ingestion.events_json import as_modification
from ingestion.instrument_pieces import ChunkJob, PreparedChunk, prepare_chunk, warm_up
from ingestion.parsers.errors import FileChangedError
from ingestion.parsers.firds_chunks import RecordChunk, iter_record_chunks
from ingestion.parsers.source import ZipLimits, xml_error_at
from ingestion.summary import IngestSummary
from secmaster_common.db.frames import BatchedFrameWriter, iter_frames
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import InstrumentRecorded, topics

# Files at least this large take the bulk path (about 20,000 FIRDS records); smaller ones
# are not worth starting worker processes for.
BULK_MIN_BYTES = 16 << 20
# Size of one piece: about 1,300 FIRDS records, one framed outbox row of about 600 kB. Larger
# pieces hardly load faster and cost each worker memory (the lxml tree of a piece that is
# not in ESMA's layout, see firds_scan).
CHUNK_BYTES = 1 << 20


class DuplicateKeyInPiece(Exception):
    """A piece holds one (ISIN, MIC) twice: the bulk load cannot order their versions."""


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class ParsePool(NamedTuple):
    executor: ProcessPoolExecutor
    workers: int


@contextmanager
def parse_pool(workers: int | None = None) -> Iterator[ParsePool]:
    """The worker processes of a bulk load, started at once: each spends most of a second
    importing what parsing needs, which the caller can overlap with other work (the file's
    checksum) before the first piece is ready."""
    count = workers or default_workers()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as executor:
        for _ in range(count):
            executor.submit(warm_up)
        yield ParsePool(executor, count)


async def load_firds_bulk(
    *,
    uow: UnitOfWork,
    pool: ParsePool,
    path: Path,
    file_id: int,
    source: str,
    correlation_id: str,
    summary: IngestSummary,
    limits: ZipLimits,
    topic_partitions: int,
    progress: Callable[[int], None] | None = None,
    between_pieces: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Write every new or changed record of `path` as an instrument version with its event,
    in the unit of work's transaction, parsed by the processes of `pool` (see parse_pool).
    Raises NotSplittable before writing anything when the file does not have the FIRDS
    layout, DuplicateKeyInPiece when a piece holds a key twice (roll back and take the
    record-by-record path), and the file's InputFileError. `between_pieces` is awaited
    before a piece is written; what it raises stops the load. The events are framed as
    record batches for a topic of `topic_partitions` partitions."""
    chunks = iter_record_chunks(path, limits, chunk_bytes=CHUNK_BYTES)
    first = next(chunks, None)  # raises NotSplittable now, before a piece is parsed
    if first is None:
        return
    if first.first_row is None or first.first_line is None:
        raise ValueError("the splitter numbers the first piece of a file")
    # the file's row and line the next piece to write starts on (see RecordChunk)
    row, line = first.first_row, first.first_line
    pending: deque[tuple[ChunkJob, asyncio.Future[PreparedChunk]]] = deque()
    shared = uow.framed_headers(
        event_type=InstrumentRecorded.event_type,
        correlation_id=correlation_id,
        schema_version=InstrumentRecorded.schema_version,
    )
    headers = tuple((name, value.encode()) for name, value in shared.items())
    writer = _PieceWriter(uow, path, summary, correlation_id, progress, (topic_partitions, headers))
    try:

        def parse(job: ChunkJob) -> asyncio.Future[PreparedChunk]:
            return asyncio.wrap_future(pool.executor.submit(prepare_chunk, job))

        async def write_next() -> None:
            nonlocal row, line
            if between_pieces is not None:
                await between_pieces()
            job, parsed = pending.popleft()
            prepared = await parsed
            if not prepared.numbered and (prepared.quarantine or prepared.syntax_error):
                # its rejects name rows and lines of the file: parse it again, numbered
                prepared = await parse(replace(job, chunk=job.chunk.numbered(row, line)))
            await writer.write(prepared)
            row += prepared.rows_read
            line += prepared.lines

        def submit(chunk: RecordChunk) -> None:
            job = ChunkJob(chunk, file_id, source, correlation_id, topic_partitions, headers)
            pending.append((job, parse(job)))

        submit(first)
        for chunk in chunks:
            submit(chunk)
            # at most two pieces per worker in flight: memory stays flat
            while len(pending) > 2 * pool.workers:
                await write_next()
        while pending:
            await write_next()
    finally:
        for _, future in pending:
            future.cancel()


class _PieceWriter:
    """Writes prepared pieces in order: straight COPY while every key is new; from the
    first known key on, each piece is merged with the current versions instead."""

    def __init__(
        self,
        uow: UnitOfWork,
        path: Path,
        summary: IngestSummary,
        correlation_id: str,
        progress: Callable[[int], None] | None,
        framing: tuple[int, tuple[tuple[str, bytes], ...]],
    ) -> None:
        self.uow = uow
        self.path = path
        self.summary = summary
        self.correlation_id = correlation_id
        self.progress = progress
        self.merging = False
        # (partitions, headers) the events of a merged piece are framed for, as the workers do
        self.framing = framing

    async def write(self, prepared: PreparedChunk) -> None:
        if prepared.changed_file is not None:
            raise FileChangedError(
                self.path,
                "the file changed while it was being read",
                where=prepared.changed_file,
                fix="Ingest it again once it is no longer being written",
            )
        if prepared.syntax_error is not None:
            message, line, column = prepared.syntax_error
            raise xml_error_at(self.path, message, line, column, at_end=False)
        conn = self.uow.conn
        frames, events = prepared.frames, prepared.events
        changes = prepared.changes
        if prepared.copy_text and not self.merging:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            try:
                async with driver.transaction():  # a savepoint: a known key undoes the piece
                    await store.copy_text(
                        conn, "instruments", store.INSTRUMENT_COLUMNS, prepared.copy_text
                    )
            except asyncpg.UniqueViolationError:
                self.merging = True
                await store.create_stage(conn)
        if prepared.copy_text and self.merging:
            merged = await store.merge_staged_text(conn, prepared.copy_text)
            if merged is None:
                raise DuplicateKeyInPiece("a key twice in one piece")
            frames, events, changes = _kept_events(prepared, merged, *self.framing)
            self.summary.unchanged += len(merged.unchanged)
        if prepared.quarantine:
            await repository.insert_quarantine(conn, prepared.quarantine)
        await self.uow.add_framed_events(
            frames,
            count=events,
            topic=topics.REFERENCE_INSTRUMENTS,
            event_type=InstrumentRecorded.event_type,
            correlation_id=self.correlation_id,
            schema_version=InstrumentRecorded.schema_version,
        )
        summary = self.summary
        summary.rows_read += prepared.rows_read
        summary.records += prepared.events
        summary.published += events
        summary.quarantined.update(prepared.quarantined)
        summary.field_issues.update(prepared.field_issues)
        summary.changes.update(changes)
        if self.progress is not None:
            self.progress(prepared.rows_read)


def _kept_events(
    prepared: PreparedChunk,
    merged: StagedMerge,
    partitions: int,
    headers: tuple[tuple[str, bytes], ...],
) -> tuple[bytes, int, Counter[str]]:
    """The piece's events for the versions the merge stored: none for an unchanged record,
    `modified` instead of `created` for a known key."""
    kept = BatchedFrameWriter(partitions=partitions, headers=headers)
    changes: Counter[str] = Counter(prepared.changes)
    for place, frame in enumerate(iter_frames(prepared.frames), start=1):
        if place in merged.unchanged:
            changes[merged.unchanged[place]] -= 1
            continue
        value = frame.value
        staged = merged.known.get(place)
        if staged == "created":
            value = as_modification(value)
            changes["created"] -= 1
            changes["modified"] += 1
        kept.add(frame.event_id.decode(), frame.key, value)
    return kept.getvalue(), kept.count, +changes
