"""What a bulk-load worker process makes of one piece of a FIRDS file: its instruments as
COPY text and their events framed, every key taken as new (see instrument_bulk).

Worker processes start by importing this module, so it imports only what parsing and
encoding need (no database or broker client).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from ingestion.domain.instruments import change_for, content_digest, status_for
from ingestion.domain.records import Reject
from ingestion.events_json import recorded_json, utc_stamp
from ingestion.parsers.firds import FirdsRecord, read_record
from ingestion.parsers.firds_chunks import RecordChunk
from secmaster_common.db.frames import FrameWriter


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
    # lxml's complaint about a piece that is not well-formed: (message, line in the file,
    # column); exceptions with our arguments do not cross processes, so it travels as data
    syntax_error: tuple[str, int | None, int | None] | None = None
    quarantined: Counter[str] = field(default_factory=Counter)
    field_issues: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)


# The RFC 4122 variant nibble (10xx) for each random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _random_uuid() -> str:
    """str(uuid.uuid4()), formatted from the random bytes directly: uuid4() builds an
    integer and a UUID object per call, 2.5 times the cost, for each of a million events."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    return _NULL if value is None else value.translate(_COPY_ESCAPES)


def _encode_new(
    record: FirdsRecord, job: ChunkJob, file_id: str, source: str, occurred_at: str
) -> tuple[str, str, bytes, str]:
    """A record whose key is new as (its COPY line in INSTRUMENT_COLUMNS order, its event
    id, its event JSON, the change announced): what `next_version(record, None)`,
    `version_record` and `recorded_event` give, from the record's texts directly."""
    status = status_for(record.record_type)
    change = change_for(status, known=False)
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
            status.value,
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
    event_id = _random_uuid()
    value = recorded_json(
        event_id=event_id,
        occurred_at=occurred_at,
        correlation_id=job.correlation_id,
        change=change,
        isin=record.isin,
        mic=record.mic,
        name=record.full_name or record.short_name,
        cfi=record.cfi,
        currency=record.currency,
        valid_from=valid_from.day if valid_from is not None else None,
        valid_to=valid_to.day if valid_to is not None else None,
        other_ids={},
        source_file=job.source,
    )
    return line, event_id, value, change


def prepare_chunk(job: ChunkJob) -> PreparedChunk:
    """Parse, validate and encode one piece (runs in a worker process)."""
    out = PreparedChunk()
    lines: list[str] = []
    frames = FrameWriter()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    line_offset = job.chunk.first_line - 1
    try:
        root = etree.fromstring(job.chunk.document, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno + line_offset if exc.lineno else None
        out.syntax_error = (str(exc.msg or exc), line, exc.offset)
        return out
    occurred_at = utc_stamp(datetime.now(UTC))
    file_id, source = str(job.file_id), _copy_text(job.source)
    changes: Counter[str] = Counter()
    row = job.chunk.first_row
    for element in root:
        if not isinstance(element.tag, str):  # a comment between records
            continue
        record = read_record(row, element, line_offset=line_offset)
        row += 1
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
        line, event_id, value, change = _encode_new(record, job, file_id, source, occurred_at)
        lines.append(line)
        frames.add(event_id, record.isin.encode(), value)
        changes[change] += 1
    out.rows_read = row - job.chunk.first_row
    if lines:
        out.copy_text = ("\n".join(lines) + "\n").encode()
    out.frames = frames.getvalue()
    out.events = frames.count
    out.changes = changes
    return out
