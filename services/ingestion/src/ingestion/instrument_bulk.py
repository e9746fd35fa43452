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
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from lxml import etree

from ingestion.adapters import instruments as store
from ingestion.adapters import repository
from ingestion.adapters.instruments import copy_text_line
from ingestion.domain.instruments import next_version
from ingestion.domain.records import Instrument, Reject
from ingestion.instrument_writer import recorded_json, utc_stamp
from ingestion.parsers.firds import record_from_element
from ingestion.parsers.firds_chunks import RecordChunk, iter_record_chunks
from ingestion.parsers.source import ZipLimits
from ingestion.summary import IngestSummary
from secmaster_common.db.frames import FrameWriter
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import InstrumentRecorded, topics

# Files at least this large take the bulk path (about 20,000 FIRDS records); smaller ones
# are not worth starting worker processes for.
BULK_MIN_BYTES = 16 << 20
# Size of one piece: about 2,500 FIRDS records, one framed outbox row of about 1 MB.
CHUNK_BYTES = 2 << 20


class KeysAlreadyKnown(Exception):
    """A piece holds an (ISIN, MIC) that already has a current version."""


@dataclass(frozen=True, slots=True)
class ChunkJob:
    chunk: RecordChunk
    file_id: int
    source: str
    correlation_id: str


@dataclass(slots=True)
class PreparedChunk:
    """A piece ready to write: its instrument rows as COPY text, its events framed."""

    rows_read: int = 0
    copy_text: bytes = b""
    frames: bytes = b""
    events: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    quarantined: Counter[str] = field(default_factory=Counter)
    field_issues: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)


def prepare_chunk(job: ChunkJob) -> PreparedChunk:
    """Parse, validate and encode one piece (runs in a worker process)."""
    out = PreparedChunk()
    lines: list[str] = []
    frames = FrameWriter()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(job.chunk.document, parser)
    line_offset = job.chunk.first_line - 1
    occurred_at = utc_stamp(datetime.now(UTC))
    row = job.chunk.first_row
    for element in root:
        if not isinstance(element.tag, str):  # a comment between records
            continue
        item = record_from_element(row, element, line_offset=line_offset)
        row += 1
        if isinstance(item, Reject):
            reason = str(item.reason)
            out.quarantined[reason] += 1
            out.quarantine.append(
                {
                    "file_id": job.file_id,
                    "row_no": item.row,
                    "reason": reason,
                    "detail": item.detail,
                    "raw": None,
                    "source": job.source,
                    "event_id": None,
                }
            )
            continue
        assert isinstance(item, Instrument)
        for issue in item.issues:
            out.field_issues[str(issue.reason)] += 1
        version = next_version(item, None)
        assert version is not None  # a record is always news when nothing is current
        lines.append(
            copy_text_line(store.version_record(version, file_id=job.file_id, source=job.source))
        )
        event_id = str(uuid.uuid4())
        value = recorded_json(
            version,
            source=job.source,
            event_id=event_id,
            occurred_at=occurred_at,
            correlation_id=job.correlation_id,
        )
        frames.add(event_id, version.isin.encode(), value)
        out.changes[version.change] += 1
    out.rows_read = row - job.chunk.first_row
    if lines:
        out.copy_text = ("\n".join(lines) + "\n").encode()
    out.frames = frames.getvalue()
    out.events = frames.count
    return out


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
                    await _write(uow, await pending.popleft(), summary, correlation_id, progress)
            while pending:
                await _write(uow, await pending.popleft(), summary, correlation_id, progress)
        finally:
            for future in pending:
                future.cancel()


async def _write(
    uow: UnitOfWork,
    prepared: PreparedChunk,
    summary: IngestSummary,
    correlation_id: str,
    progress: Callable[[int], None] | None,
) -> None:
    conn = uow.conn
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
