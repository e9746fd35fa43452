"""Use cases of the ingestion service: a parsed file becomes stored rows, a quarantine and
its events in the outbox, all in one transaction per file (a file that breaks midway rolls
back whole, so no partial snapshot or partial file is ever published)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import math
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.adapters import repository
from ingestion.domain.records import Holding, Reject
from ingestion.instrument_bulk import (
    BULK_MIN_BYTES,
    DuplicateKeyInPiece,
    load_firds_bulk,
    parse_pool,
)
from ingestion.instrument_writer import InstrumentWriter
from ingestion.parsers import InputFileError, parse_file
from ingestion.parsers.firds_chunks import NotSplittable
from ingestion.parsers.instruments_table import instrument_from_record
from ingestion.parsers.source import DEFAULT_ZIP_LIMITS
from ingestion.summary import IngestSummary
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    Envelope,
    HoldingLine,
    HoldingsSnapshotChunk,
    InstrumentSubmitted,
    topics,
)
from secmaster_common.logging import get_logger
from secmaster_common.settings import DEFAULT_TOPIC_PARTITIONS

# Called with the number of input rows read since the last call (drives a progress bar).
Progress = Callable[[int], None]
# Rows read between two progress reports.
PROGRESS_EVERY = 1000

PRODUCER = "ingestion"
log = get_logger(__name__)

# Formats whose records are instruments (reference.instruments.v1); the rest are holdings.
INSTRUMENT_FORMATS = frozenset({"firds", "instruments"})

# How our identifier names map onto the contract's id types.
_ID_TYPES = {"isin": "ISIN", "cusip": "CUSIP", "sedol": "SEDOL", "figi": "FIGI", "ticker": "TICKER"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def holding_line(holding: Holding) -> HoldingLine | None:
    """The contract's view of a holding, or None when it has no usable identifier."""
    ids = holding.identifiers
    identifiers: dict[str, str] = {
        _ID_TYPES[name]: value
        for name, value in (
            ("isin", ids.isin),
            ("cusip", ids.cusip),
            ("sedol", ids.sedol),
            ("figi", ids.figi),
            ("ticker", ids.ticker),
        )
        if value
    }
    if ids.lei:
        identifiers["LEI"] = ids.lei
    if not identifiers or holding.quantity is None:
        return None
    return HoldingLine(
        identifiers=identifiers,
        quantity=holding.quantity,
        market_value=holding.value,
        currency=holding.currency,
        name=holding.name,
    )


async def ingest_holdings(
    *,
    engine: AsyncEngine,
    path: Path,
    fmt: str,
    items: Iterable[Holding | Reject | Any],
    portfolio_id: str,
    as_of: dt.date,
    chunk_size: int = 500,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Store a holdings file and publish it as one complete snapshot (chunks 0..m-1).

    The same file for the same portfolio and date is recognised by its checksum and
    publishes nothing new. Rows without a usable identifier or quantity are quarantined.
    """
    summary = IngestSummary(path=str(path), format=fmt, portfolio_id=portfolio_id, as_of=as_of)
    sha = sha256 or file_sha256(path)
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        existing = await repository.find_file(
            uow.conn, sha256=sha, fmt=fmt, portfolio_id=portfolio_id, as_of=as_of
        )
        if existing is not None:
            await _describe_duplicate(uow, summary, existing)
            return summary
        file_id = await repository.register_file(
            uow.conn, sha256=sha, source=str(path), fmt=fmt, portfolio_id=portfolio_id, as_of=as_of
        )
        summary.file_id = file_id
        lines: list[HoldingLine] = []
        rows: list[dict[str, Any]] = []
        quarantine: list[dict[str, Any]] = []
        for item in items:
            summary.rows_read += 1
            if progress is not None and summary.rows_read % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            if isinstance(item, Reject):
                summary.quarantined[str(item.reason)] += 1
                quarantine.append(
                    {
                        "file_id": file_id,
                        "row_no": item.row,
                        "reason": str(item.reason),
                        "detail": item.detail,
                        "raw": None,
                    }
                )
                continue
            if not isinstance(item, Holding):
                summary.quarantined["not_a_holding"] += 1
                quarantine.append(
                    {
                        "file_id": file_id,
                        "row_no": getattr(item, "row", None),
                        "reason": "not_a_holding",
                        "detail": f"a {type(item).__name__} record in a holdings file",
                        "raw": None,
                    }
                )
                continue
            line = holding_line(item)
            if line is None:
                reason, detail = _unusable_holding(item)
                summary.quarantined[reason] += 1
                quarantine.append(
                    {
                        "file_id": file_id,
                        "row_no": item.row,
                        "reason": reason,
                        "detail": detail,
                        "raw": item.model_dump(mode="json"),
                    }
                )
                continue
            lines.append(line)
            rows.append(
                {
                    "file_id": file_id,
                    "line_no": item.row,
                    "portfolio_id": portfolio_id,
                    "as_of": as_of,
                    "identifiers": dict(line.identifiers),
                    "quantity": line.quantity,
                    "market_value": line.market_value,
                    "currency": line.currency,
                    "name": line.name,
                }
            )
        summary.records = len(lines)
        await repository.insert_holdings(uow.conn, rows)
        await repository.insert_quarantine(uow.conn, quarantine)
        snapshot_id = uuid.uuid4()
        count = max(1, math.ceil(len(lines) / chunk_size))
        for index in range(count):
            await uow.publish(
                HoldingsSnapshotChunk(
                    portfolio_id=portfolio_id,
                    as_of=as_of,
                    snapshot_id=snapshot_id,
                    chunk_index=index,
                    chunk_count=count,
                    holdings=lines[index * chunk_size : (index + 1) * chunk_size],
                ),
                key=portfolio_id,
                correlation_id=str(snapshot_id),
            )
        summary.published = count
        summary.snapshot_id = snapshot_id
        await repository.finish_file(
            uow.conn,
            file_id,
            rows_read=summary.rows_read,
            records=summary.records,
            published=count,
            quarantined=sum(summary.quarantined.values()),
        )
        await uow.commit()
    if progress is not None:
        progress(summary.rows_read % PROGRESS_EVERY)
    return summary


async def _describe_duplicate(uow: UnitOfWork, summary: IngestSummary, file_id: int) -> None:
    """A file ingested before publishes nothing; its summary still says what it holds."""
    summary.duplicate_of = file_id
    summary.rows_read, summary.records, quarantined = await repository.file_counts(
        uow.conn, file_id
    )
    summary.quarantined.update(quarantined)


def _unusable_holding(holding: Holding) -> tuple[str, str]:
    if holding.quantity is None:
        return "missing_quantity", "the row has no quantity"
    if holding.is_cash:
        # SPDR files list the fund's cash as a row with a placeholder CUSIP (999USDZ92):
        # a real position, but no security to map or price.
        return "cash_position", f"cash line {holding.name or ''} {holding.currency or ''}".strip()
    return "no_usable_identifier", "the row has no identifier that passed validation"


async def ingest_instruments(
    *,
    engine: AsyncEngine,
    path: Path,
    fmt: str,
    items: Iterable[Any],
    sha256: str | None = None,
    batch_size: int = 2000,
    progress: Progress | None = None,
    source: str | None = None,
    parse_workers: int | None = None,
    topic_partitions: int = DEFAULT_TOPIC_PARTITIONS,
) -> IngestSummary:
    """Store an instruments file (FIRDS, generic instruments CSV) as versions of each
    (ISIN, MIC) and announce every new or changed one on `reference.instruments.v1`.

    Streams in batches of `batch_size` (bulk COPY of versions and outbox rows) inside one
    transaction: memory stays flat, and a file that breaks midway (raising from `items`)
    leaves no row and no event. A file already ingested (same checksum) publishes nothing;
    a record equal to the current version of its key publishes nothing either.

    A large FIRDS file is loaded in pieces by `parse_workers` processes (default: one per
    CPU; 0 turns the bulk path off), see instrument_bulk; its events are framed as record
    batches for a topic of `topic_partitions` partitions (KAFKA_TOPIC_PARTITIONS).
    """
    if _bulk_eligible(path, fmt, parse_workers):
        bulk, sha256 = await _ingest_firds_bulk(
            engine=engine,
            path=path,
            sha=sha256,
            source=source,
            progress=progress,
            parse_workers=parse_workers,
            topic_partitions=topic_partitions,
        )
        if bulk is not None:
            return bulk
    sha = sha256 or file_sha256(path)
    summary = IngestSummary(path=str(path), format=fmt, portfolio_id="", as_of=None)
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        file_id = await _register_instruments_file(uow, summary, sha=sha, source=source)
        if file_id is None:
            return summary
        writer = InstrumentWriter(
            uow,
            file_id=file_id,
            source=source or path.name,
            correlation_id=f"file:{file_id}",
            summary=summary,
            batch_size=batch_size,
        )
        reported = 0
        for item in items:
            await writer.add(item)
            if progress is not None and summary.rows_read - reported >= PROGRESS_EVERY:
                progress(summary.rows_read - reported)
                reported = summary.rows_read
        await writer.flush()
        await _finish_file(uow, summary, file_id)
        await uow.commit()
    if progress is not None:
        progress(summary.rows_read - reported)
    return summary


def _bulk_eligible(path: Path, fmt: str, parse_workers: int | None) -> bool:
    return fmt == "firds" and parse_workers != 0 and os.path.getsize(path) >= BULK_MIN_BYTES


async def _register_instruments_file(
    uow: UnitOfWork, summary: IngestSummary, *, sha: str | None, source: str | None
) -> int | None:
    """Register the file; None (and the summary filled in) when it was ingested before.
    Without its checksum yet (a bulk load computes it while it loads), the file is
    registered under a provisional one for `repository.set_file_sha256` to replace."""
    if sha is not None:
        existing = await _find_instruments_file(uow.conn, sha, summary.format)
        if existing is not None:
            await _describe_duplicate(uow, summary, existing)
            return None
    file_id = await repository.register_file(
        uow.conn,
        sha256=sha or f"pending:{uuid.uuid4().hex}",
        source=source or summary.path,
        fmt=summary.format,
        portfolio_id="",
        as_of=None,
    )
    summary.file_id = file_id
    return file_id


async def _find_instruments_file(conn: Any, sha: str, fmt: str) -> int | None:
    return await repository.find_file(conn, sha256=sha, fmt=fmt, portfolio_id="", as_of=None)


async def _finish_file(uow: UnitOfWork, summary: IngestSummary, file_id: int) -> None:
    await repository.finish_file(
        uow.conn,
        file_id,
        rows_read=summary.rows_read,
        records=summary.records,
        published=summary.published,
        quarantined=sum(summary.quarantined.values()),
    )


class _IngestedBefore(Exception):
    """The file turned out to be one ingested before, once its checksum was known."""


async def _ingest_firds_bulk(
    *,
    engine: AsyncEngine,
    path: Path,
    sha: str | None,
    source: str | None,
    progress: Progress | None,
    parse_workers: int | None,
    topic_partitions: int,
) -> tuple[IngestSummary | None, str | None]:
    """The bulk load of a FIRDS file and the file's checksum; no summary when the bulk load
    does not apply (a layout the splitter does not know, or a key twice in one piece):
    nothing was written then.

    The checksum (a few seconds for a file of a million records) is computed while the file
    loads, not before: the file is registered under a provisional checksum, and once the
    real one is known a file ingested before stops the load, which leaves nothing written,
    as when it is recognised up front. Its events are correlated by the registry's id."""
    summary = IngestSummary(path=str(path), format="firds", portfolio_id="", as_of=None)
    with parse_pool(parse_workers) as pool:
        hashing = None if sha else asyncio.ensure_future(asyncio.to_thread(file_sha256, path))
        if hashing is not None:  # its error, if the load fails first, is not left unread
            hashing.add_done_callback(lambda done: done.cancelled() or done.exception())
        looked_up = False

        async def stop_if_ingested_before() -> None:
            # between pieces: a file ingested before is recognised as soon as it can be
            nonlocal looked_up
            if hashing is not None and hashing.done() and not looked_up:
                looked_up = True
                async with engine.connect() as conn:
                    if await _find_instruments_file(conn, hashing.result(), "firds") is not None:
                        raise _IngestedBefore

        try:
            async with UnitOfWork(engine, producer=PRODUCER) as uow:
                file_id = await _register_instruments_file(uow, summary, sha=sha, source=source)
                if file_id is None:
                    return summary, sha
                await load_firds_bulk(
                    uow=uow,
                    pool=pool,
                    path=path,
                    file_id=file_id,
                    source=source or path.name,
                    correlation_id=f"file:{file_id}",
                    summary=summary,
                    limits=DEFAULT_ZIP_LIMITS,
                    topic_partitions=topic_partitions,
                    progress=progress,
                    between_pieces=stop_if_ingested_before,
                )
                if hashing is not None:
                    sha = await hashing
                    if await _find_instruments_file(uow.conn, sha, "firds") is not None:
                        raise _IngestedBefore
                    await repository.set_file_sha256(uow.conn, file_id, sha)
                await _finish_file(uow, summary, file_id)
                await uow.commit()
        except (NotSplittable, DuplicateKeyInPiece, _IngestedBefore) as exc:
            if progress is not None and summary.rows_read:
                progress(-summary.rows_read)  # not loaded after all
            if sha is None and hashing is not None:
                sha = await hashing
            if isinstance(exc, _IngestedBefore) and sha is not None:
                return await _ingested_before(engine, path, sha), sha
            log.info(
                "bulk load not applicable; reading record by record", path=str(path), why=str(exc)
            )
            return None, sha
    return summary, sha


async def _ingested_before(engine: AsyncEngine, path: Path, sha: str) -> IngestSummary:
    """The summary of a file found ingested before: what that ingestion held."""
    summary = IngestSummary(path=str(path), format="firds", portfolio_id="", as_of=None)
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        existing = await _find_instruments_file(uow.conn, sha, "firds")
        if existing is None:  # pragma: no cover - it was there a moment ago
            raise RuntimeError(f"{path}: the file ingested before is no longer registered")
        await _describe_duplicate(uow, summary, existing)
    return summary


async def ingest_file(
    *,
    engine: AsyncEngine,
    path: Path,
    fmt: str | None = None,
    portfolio_id: str | None = None,
    as_of: dt.date | None = None,
    default_portfolio_id: str | None = None,
    default_as_of: dt.date | None = None,
    chunk_size: int = 500,
    source: str | None = None,
    progress: Progress | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
    parse_workers: int | None = None,
    topic_partitions: int = DEFAULT_TOPIC_PARTITIONS,
) -> IngestSummary:
    """Parse `path` (format detected when `fmt` is None) and ingest it as instruments or as a
    holdings snapshot. A holdings file takes its portfolio and date from the arguments, else
    from the file, else from the defaults; with none of them it is refused (InputFileError).
    `parse_workers`, `topic_partitions`: see ingest_instruments.
    """
    parsed = parse_file(path, fmt, portfolio_id=portfolio_id, as_of=as_of, columns=columns)
    if parsed.format in INSTRUMENT_FORMATS:
        return await ingest_instruments(
            engine=engine,
            path=path,
            fmt=parsed.format,
            items=parsed.items,
            source=source,
            progress=progress,
            parse_workers=parse_workers,
            topic_partitions=topic_partitions,
        )
    pid = parsed.portfolio_id or default_portfolio_id
    day = parsed.as_of or default_as_of
    if pid is None:
        raise InputFileError(
            path,
            f"a {parsed.format} holdings file that names no portfolio",
            fix="Pass --portfolio-id",
        )
    if day is None:
        raise InputFileError(
            path, f"a {parsed.format} holdings file that states no as-of date", fix="Pass --as-of"
        )
    return await ingest_holdings(
        engine=engine,
        path=path,
        fmt=parsed.format,
        items=parsed.items,
        portfolio_id=pid,
        as_of=day,
        chunk_size=chunk_size,
        progress=progress,
    )


async def record_submitted(
    *, engine: AsyncEngine, envelope: Envelope[InstrumentSubmitted], consumer: str = PRODUCER
) -> IngestSummary | None:
    """Validate one raw record from `instruments.submitted.v1` through the same checks as an
    instruments CSV row and store it like a file's record (quarantined with its reason when
    unusable). None when this event was handled before (the inbox holds its id)."""
    submitted = envelope.payload
    summary = IngestSummary(
        path=submitted.source, format="instruments", portfolio_id="", as_of=None
    )
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        claimed = await uow.claim(
            consumer=consumer, event_id=envelope.event_id, topic=topics.INSTRUMENTS_SUBMITTED
        )
        if not claimed:
            return None
        writer = InstrumentWriter(
            uow,
            file_id=None,
            source=submitted.source,
            correlation_id=envelope.correlation_id,
            summary=summary,
            event_id=envelope.event_id,
        )
        await writer.add(instrument_from_record(submitted.record), raw=submitted.record)
        await writer.flush()
        await uow.commit()
    return summary
