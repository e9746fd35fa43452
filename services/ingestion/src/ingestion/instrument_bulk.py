"""Bulk load of a large FIRDS file: the file is cut into pieces of whole records, worker
processes parse, validate and encode each piece (COPY rows, framed events), and this
process streams them into Postgres in file order, in one transaction.

The pieces are written on the assumption that every (ISIN, MIC) is new: versions 1,
`created` (or terminated/cancelled) events, no lookup of current versions. The unique
index on current versions checks that assumption; when it fails (an update of known
instruments, a key twice in the file) the load stops, rolls back and the caller takes the
record-by-record path, which compares each record with its current version.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg

from ingestion.adapters import instruments as store
from ingestion.adapters import repository
from ingestion.instrument_pieces import ChunkJob, PreparedChunk, prepare_chunk
from ingestion.parsers.firds_chunks import RecordChunk, iter_record_chunks
from ingestion.parsers.source import ZipLimits, xml_error_at
from ingestion.summary import IngestSummary
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import InstrumentRecorded, topics

# Files at least this large take the bulk path (about 20,000 FIRDS records); smaller ones
# are not worth starting worker processes for.
BULK_MIN_BYTES = 16 << 20
# Size of one piece: about 1,300 FIRDS records, one framed outbox row of about 600 kB. Larger
# pieces hardly load faster and cost each worker memory (its lxml tree of the piece).
CHUNK_BYTES = 1 << 20


class KeysAlreadyKnown(Exception):
    """A piece holds an (ISIN, MIC) that already has a current version."""


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


async def load_firds_bulk(
    *,
    uow: UnitOfWork,
    path: Path,
    file_id: int,
    source: str,
    correlation_id: str,
    summary: IngestSummary,
    limits: ZipLimits,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write every record of `path` as a new instrument version with its event, in the
    unit of work's transaction. Raises NotSplittable before writing anything when the file
    does not have the FIRDS layout, KeysAlreadyKnown when a key has a current version
    (roll back and take the record-by-record path), and the file's InputFileError."""
    chunks = iter_record_chunks(path, limits, chunk_bytes=CHUNK_BYTES)
    first = next(chunks, None)  # raises NotSplittable now, before a process is started
    if first is None:
        return
    count = workers or default_workers()
    context = multiprocessing.get_context("spawn")
    pending: deque[asyncio.Future[PreparedChunk]] = deque()
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        try:

            def submit(chunk: RecordChunk) -> None:
                job = ChunkJob(chunk, file_id, source, correlation_id)
                pending.append(asyncio.wrap_future(pool.submit(prepare_chunk, job)))

            submit(first)
            for chunk in chunks:
                submit(chunk)
                # at most two pieces per worker in flight: memory stays flat
                while len(pending) > 2 * count:
                    await _write(
                        uow, path, await pending.popleft(), summary, correlation_id, progress
                    )
            while pending:
                await _write(uow, path, await pending.popleft(), summary, correlation_id, progress)
        finally:
            for future in pending:
                future.cancel()


async def _write(
    uow: UnitOfWork,
    path: Path,
    prepared: PreparedChunk,
    summary: IngestSummary,
    correlation_id: str,
    progress: Callable[[int], None] | None,
) -> None:
    conn = uow.conn
    if prepared.syntax_error is not None:
        message, line, column = prepared.syntax_error
        raise xml_error_at(path, message, line, column, at_end=False)
    if prepared.copy_text:
        try:
            await store.copy_text(conn, "instruments", store.INSTRUMENT_COLUMNS, prepared.copy_text)
        except asyncpg.UniqueViolationError as exc:
            raise KeysAlreadyKnown(str(exc)) from exc
    if prepared.quarantine:
        await repository.insert_quarantine(conn, prepared.quarantine)
    await uow.add_framed_events(
        prepared.frames,
        count=prepared.events,
        topic=topics.REFERENCE_INSTRUMENTS,
        event_type=InstrumentRecorded.event_type,
        correlation_id=correlation_id,
        schema_version=InstrumentRecorded.schema_version,
    )
    summary.rows_read += prepared.rows_read
    summary.records += prepared.events
    summary.published += prepared.events
    summary.quarantined.update(prepared.quarantined)
    summary.field_issues.update(prepared.field_issues)
    summary.changes.update(prepared.changes)
    if progress is not None:
        progress(prepared.rows_read)
