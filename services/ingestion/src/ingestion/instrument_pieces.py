"""What a bulk-load worker process makes of one piece of a FIRDS file: its instruments as
COPY text and their events framed, every key taken as new (see instrument_bulk).

Worker processes start by importing this module, so it imports only what parsing and
encoding need (no database or broker client).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from lxml import etree

from ingestion.domain.identifiers import valid_canonical_isins
from ingestion.domain.instruments import change_for, content_digest, status_for
from ingestion.domain.records import FirdsRecordType, Reject
from ingestion.events_json import RecordedJson, utc_stamp
from ingestion.parsers.firds import FirdsRecord, check_record, read_record, record_kind
from ingestion.parsers.firds_chunks import ChangedWhileReading, RecordChunk
from ingestion.parsers.firds_scan import scan_piece
from secmaster_common.db.frames import BatchedFrameWriter


@dataclass(frozen=True, slots=True)
class ChunkJob:
    chunk: RecordChunk
    file_id: int
    source: str
    correlation_id: str
    # the topic's partition count and the Kafka headers every event of the file carries
    # (but its id): the events are framed as ready record batches (frames.py)
    partitions: int
    headers: tuple[tuple[str, bytes], ...]


@dataclass(slots=True)
class PreparedChunk:
    """A piece ready to write: its instrument rows as COPY text, its events framed as
    record batches."""

    rows_read: int = 0
    # the line breaks among its records: the lines the next piece starts after
    lines: int = 0
    # whether its rows and lines are the file's (else counted from the piece's start; see
    # RecordChunk)
    numbered: bool = True
    copy_text: bytes = b""
    frames: bytes = b""
    events: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    # lxml's complaint about a piece that is not well-formed: (message, line in the file,
    # column); exceptions with our arguments do not cross processes, so it travels as data
    syntax_error: tuple[str, int | None, int | None] | None = None
    # the piece's records were not in the file as the splitter found them
    changed_file: str | None = None
    quarantined: Counter[str] = field(default_factory=Counter)
    field_issues: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)


# Where the 32 hex digits of a UUID go in its 36 characters (the rest are dashes).
_UUID_DIGITS = [i for i in range(36) if i not in (8, 13, 18, 23)]


def random_uuids(count: int) -> list[str]:
    """`count` times str(uuid.uuid4()), made for a whole piece at once from one read of
    os.urandom: uuid4() builds an integer and a UUID object per call, which cost more than
    anything else in encoding an event but its JSON."""
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # the RFC 4122 variant
    digits = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(count, 32)
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = digits
    joined = text.tobytes().decode("ascii")
    return [joined[i : i + 36] for i in range(0, 36 * count, 36)]


# About the records of a piece (CHUNK_BYTES of ESMA's records): event ids are made this
# many at once.
EVENT_IDS_AT_ONCE = 1024


def _event_ids(expected: int) -> Iterator[str]:
    """Fresh event ids, made `expected` at a time."""
    while True:
        yield from random_uuids(max(expected, 1))


# What a record with a new key becomes, by its FIRDS record type.
_NEW_KEY = {
    record_type: (status_for(record_type), change_for(status_for(record_type), known=False))
    for record_type in (None, *FirdsRecordType)
}


_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    if value is None:
        return _NULL
    # Few texts hold a character COPY reads specially; looking for them costs a fifteenth
    # of translating (1.3 us a name, three names a record).
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _encode_new(
    record: FirdsRecord, event_id: str, events: RecordedJson, file_id: str, source: str
) -> tuple[str, bytes, str]:
    """A record whose key is new as (its COPY line in INSTRUMENT_COLUMNS order, its event
    JSON, the change announced): what `next_version(record, None)`, `version_record` and
    `recorded_event` give, from the record's texts directly."""
    status, change = _NEW_KEY[record.record_type]
    valid_from, valid_to, expiry = record.valid_from, record.valid_to, record.expiry_date
    digest = content_digest(
        record,
        status,
        valid_from=valid_from.iso if valid_from is not None else "",
        valid_to=valid_to.iso if valid_to is not None else "",
        expiry=expiry.iso if expiry is not None else "",
        other_ids="",  # no other identifiers in FIRDS
    )
    # ISIN, MIC, CFI, currency and LEI passed their checks: letters and digits only
    line = "\t".join(
        (
            record.isin,
            record.mic,
            "1",
            status,  # a StrEnum joins as its value
            change,
            _copy_text(record.full_name),
            _copy_text(record.short_name),
            record.cfi or _NULL,
            record.currency or _NULL,
            record.issuer_lei or _NULL,
            valid_from.iso if valid_from is not None else _NULL,
            valid_to.iso if valid_to is not None else _NULL,
            expiry.iso if expiry is not None else _NULL,
            _copy_text(record.competent_authority),
            "{}",
            digest,
            file_id,
            source,
        )
    )
    value = events.render(
        event_id,
        change,
        record.isin,
        record.mic,
        record.full_name or record.short_name,
        record.cfi,
        record.currency,
        valid_from.day if valid_from is not None else None,
        valid_to.day if valid_to is not None else None,
    )
    return line, value, change


def warm_up() -> None:
    """A worker's first task: importing this module is the work (see parse_pool)."""


def _read_piece(job: ChunkJob, out: PreparedChunk) -> Iterator[FirdsRecord | Reject]:
    """The piece's records checked, in order: scanned when the piece is in ESMA's layout,
    else through an lxml tree (which also reports a piece that is not well-formed)."""
    chunk = job.chunk
    first_row = chunk.first_row or 1
    line_offset = (chunk.first_line or 1) - 1
    out.numbered = chunk.first_row is not None and chunk.first_line is not None
    try:
        document = chunk.document()
    except ChangedWhileReading as exc:
        out.changed_file = str(exc)
        return
    out.lines = document.count(b"\n") - chunk.head.count(b"\n") - chunk.tail.count(b"\n")
    scanned = scan_piece(document)
    if scanned is not None:
        records = scanned.records
        valid_isins = valid_canonical_isins([texts.isin or "" for _, texts, _ in records])
        checked = zip(records, valid_isins, strict=True)
        for row, ((kind, texts, offset), isin_valid) in enumerate(checked, start=first_row):
            record_type = None if kind is None else record_kind(kind)
            record = check_record(row, record_type, texts, 0, isin_valid=isin_valid)
            if isinstance(record, Reject):  # again, to name its line (rejects are rare)
                line = scanned.line_at(offset) + line_offset
                record = check_record(row, record_type, texts, line, isin_valid=isin_valid)
            yield record
        return
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno + line_offset if exc.lineno else None
        out.syntax_error = (str(exc.msg or exc), line, exc.offset)
        return
    elements = (element for element in root if isinstance(element.tag, str))  # no comments
    for row, element in enumerate(elements, start=first_row):
        yield read_record(row, element, line_offset=line_offset)


def prepare_chunk(job: ChunkJob) -> PreparedChunk:
    """Parse, validate and encode one piece (runs in a worker process)."""
    out = PreparedChunk()
    lines: list[str] = []
    frames = BatchedFrameWriter(partitions=job.partitions, headers=job.headers)
    events = RecordedJson(
        occurred_at=utc_stamp(datetime.now(UTC)),
        correlation_id=job.correlation_id,
        other_ids={},  # no other identifiers in FIRDS
        source_file=job.source,
    )
    file_id, source = str(job.file_id), _copy_text(job.source)
    changes: Counter[str] = Counter()
    rows = 0
    event_ids = _event_ids(EVENT_IDS_AT_ONCE)
    for record in _read_piece(job, out):
        rows += 1
        if isinstance(record, Reject):
            reason = str(record.reason)
            out.quarantined[reason] += 1
            out.quarantine.append(
                {
                    "file_id": job.file_id,
                    "row_no": record.row,
                    "reason": reason,
                    "detail": record.detail,
                    "raw": None,
                    "source": job.source,
                    "event_id": None,
                }
            )
            continue
        for issue in record.issues:
            out.field_issues[str(issue.reason)] += 1
        event_id = next(event_ids)
        line, value, change = _encode_new(record, event_id, events, file_id, source)
        lines.append(line)
        frames.add(event_id, record.isin.encode(), value)
        changes[change] += 1
    out.rows_read = rows
    if lines:
        out.copy_text = ("\n".join(lines) + "\n").encode()
    out.frames = frames.getvalue()
    out.events = frames.count
    out.changes = changes
    return out
