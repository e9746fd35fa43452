"""The pieces a large FIRDS file is cut into, and what a worker makes of them: the same
records as parsing the file whole, and events byte for byte as the pydantic models write."""

from __future__ import annotations

import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.adapters.instruments import INSTRUMENT_COLUMNS
from ingestion.domain.instruments import next_version
from ingestion.domain.records import Instrument, Reject
from ingestion.events_json import RecordedJson, as_modification, utc_stamp
from ingestion.instrument_pieces import ChunkJob, prepare_chunk, random_uuids
from ingestion.instrument_writer import recorded_envelope, recorded_event
from ingestion.parsers import MalformedXmlError, parse_file
from ingestion.parsers.firds_chunks import NotSplittable, RecordChunk, iter_record_chunks
from ingestion.parsers.source import DEFAULT_ZIP_LIMITS
from secmaster_common.db.frames import iter_frames
from secmaster_common.events import Envelope, InstrumentRecorded, envelope_json

DELTA = "DLTINS_20210117_01of01_part15_kharish1.xml"
HEADERS = (("event_type", b"instrument.recorded"), ("correlation_id", b"file:x"))


def _job(chunk: RecordChunk, file_id: int, source: str, correlation_id: str) -> ChunkJob:
    return ChunkJob(chunk, file_id, source, correlation_id, partitions=4, headers=HEADERS)


def test_pieces_of_the_real_delta_file_hold_what_the_whole_file_holds(reference_dir: Path) -> None:
    path = reference_dir / "firds" / DELTA
    whole = list(parse_file(path, "firds").items)
    chunks = list(iter_record_chunks(path, DEFAULT_ZIP_LIMITS, chunk_bytes=32 << 10))
    assert len(chunks) > 5
    # the splitter numbers the first piece only; the others are numbered as the loader
    # does, in order, from the rows and lines their workers counted
    assert (chunks[0].first_row, chunks[0].first_line) == (1, 2)
    assert all(c.first_row is None and c.first_line is None for c in chunks[1:])
    unnumbered = [prepare_chunk(_job(c, 1, DELTA, "file:x")) for c in chunks]
    assert [p.numbered for p in unnumbered] == [True] + [False] * (len(chunks) - 1)
    prepared = []
    row, line = 1, 2
    for chunk in chunks:
        prepared.append(prepare_chunk(_job(chunk.numbered(row, line), 1, DELTA, "file:x")))
        row, line = row + prepared[-1].rows_read, line + prepared[-1].lines
    assert [p.rows_read for p in unnumbered] == [p.rows_read for p in prepared]
    assert row - 1 == sum(p.rows_read for p in prepared) == len(whole) == 1382
    raw = path.read_bytes()
    assert line == raw[: raw.rindex(b"</FinInstrm>")].count(b"\n") + 1
    assert sum(p.events for p in prepared) == sum(isinstance(i, Instrument) for i in whole)
    rejects = [q for p in prepared for q in p.quarantine]
    expected = [i for i in whole if isinstance(i, Reject)]
    # same row numbers, reasons and messages, XML line numbers included
    assert [(q["row_no"], q["reason"], q["detail"]) for q in rejects] == [
        (r.row, str(r.reason), r.detail) for r in expected
    ]
    isins = [f.key.decode() for p in prepared for f in iter_frames(p.frames)]
    assert isins == [i.isin for i in whole if isinstance(i, Instrument)]


def test_event_json_is_byte_for_byte_the_envelope_pydantic_writes(reference_dir: Path) -> None:
    items = parse_file(reference_dir / "firds" / DELTA, "firds").items
    instruments = [i for i in items if isinstance(i, Instrument)][:20]
    # names with quotes, backslashes, control characters and non-ASCII letters too
    odd = instruments[0].model_copy(
        update={
            "full_name": 'Ä "q" \\ \t\x01 é',
            "cfi": None,
            "other_ids": {"figi": "BBG000BLNNH6"},
        }
    )
    for record in [odd, *instruments]:
        version = next_version(record, None)
        assert version is not None
        envelope = recorded_envelope(recorded_event(version, source=DELTA), correlation_id="c-1")
        payload = envelope.payload
        template = RecordedJson(
            occurred_at=utc_stamp(envelope.occurred_at),
            correlation_id="c-1",
            other_ids=payload.other_ids,
            source_file=payload.source_file,
        )
        fast = template.render(
            str(envelope.event_id),
            payload.change,
            payload.isin,
            payload.mic,
            payload.name,
            payload.cfi,
            payload.currency,
            payload.valid_from.isoformat() if payload.valid_from else None,
            payload.valid_to.isoformat() if payload.valid_to else None,
        )
        assert fast == envelope_json(envelope)
        assert Envelope[InstrumentRecorded].model_validate_json(fast) == envelope


def _firds(records: str, *, prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    ns = f"xmlns:{prefix}" if prefix else "xmlns"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{p}Document {ns}="urn:iso:std:iso:20022:tech:xsd:auth.017.001.02">'
        f"<{p}FinInstrmRptgRefDataRpt>\n{records}</{p}FinInstrmRptgRefDataRpt></{p}Document>\n"
    ).encode()


def _record(n: int, *, prefix: str = "", name: str = "A") -> str:
    p = f"{prefix}:" if prefix else ""
    isin = ["DE0000000009", "DE0000000017", "DE0000000025"][n % 3]
    return (
        f"<{p}RefData><{p}FinInstrmGnlAttrbts><{p}Id>{isin}</{p}Id><{p}FullNm>{name}</{p}FullNm>"
        f"</{p}FinInstrmGnlAttrbts><{p}TradgVnRltdAttrbts><{p}Id>XEUR</{p}Id>"
        f"</{p}TradgVnRltdAttrbts></{p}RefData >\n"
    )


def test_copy_rows_escape_what_copy_reads_specially(tmp_path: Path) -> None:
    path = tmp_path / "FULINS.xml"
    path.write_bytes(_firds(_record(0, name="A\\B\tC\nD") + _record(1, name="plain")))
    (chunk,) = iter_record_chunks(path, DEFAULT_ZIP_LIMITS)
    prepared = prepare_chunk(_job(chunk, 7, "in\\box.xml", "file:1"))
    rows = [line.split("\t") for line in prepared.copy_text.decode().splitlines()]
    full_name = INSTRUMENT_COLUMNS.index("full_name")
    source = INSTRUMENT_COLUMNS.index("source")
    assert [row[full_name] for row in rows] == ["A\\\\B\\tC\\nD", "plain"]
    assert [row[source] for row in rows] == ["in\\\\box.xml"] * 2


def test_prefixed_elements_comments_and_a_record_longer_than_a_piece(tmp_path: Path) -> None:
    long_name = "N" * 5000
    body = _record(0, prefix="f") + "<!-- a comment -->\n" + _record(1, prefix="f", name=long_name)
    path = tmp_path / "FULINS_prefixed.xml"
    path.write_bytes(_firds(body + _record(2, prefix="f"), prefix="f"))
    chunks = list(iter_record_chunks(path, DEFAULT_ZIP_LIMITS, chunk_bytes=1000))
    prepared = [prepare_chunk(_job(c, 1, "x", "c")) for c in chunks]
    assert sum(p.rows_read for p in prepared) == 3
    frames = [f for p in prepared for f in iter_frames(p.frames)]
    assert [f.key for f in frames] == [b"DE0000000009", b"DE0000000017", b"DE0000000025"]
    assert long_name.encode() in frames[1].value


def test_a_file_of_another_layout_is_not_split(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_bytes(b'<?xml version="1.0"?><root><item>1</item></root>')
    with pytest.raises(NotSplittable):
        next(iter_record_chunks(path, DEFAULT_ZIP_LIMITS))


def test_damage_after_the_last_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "FULINS_damaged.xml"
    path.write_bytes(_firds(_record(0) + _record(1)).replace(b"</Document>", b"</Documnt>"))
    with pytest.raises(MalformedXmlError, match="does not close the document") as caught:
        list(iter_record_chunks(path, DEFAULT_ZIP_LIMITS, chunk_bytes=200))
    # declaration, report element, a record a line: what follows the last record starts
    # on its line, 4
    assert caught.value.where == "line 4"


def test_events_of_one_piece_share_a_time_and_have_their_own_ids(tmp_path: Path) -> None:
    path = tmp_path / "FULINS.xml"
    path.write_bytes(_firds(_record(0) + _record(1) + _record(2)))
    (chunk,) = iter_record_chunks(path, DEFAULT_ZIP_LIMITS)
    before = datetime.now(UTC)
    prepared = prepare_chunk(_job(chunk, 7, "FULINS.xml", "file:abc"))
    envelopes = [
        Envelope[InstrumentRecorded].model_validate_json(f.value)
        for f in iter_frames(prepared.frames)
    ]
    assert len({e.event_id for e in envelopes}) == 3
    assert all(e.event_id.version == 4 for e in envelopes)
    assert all(e.event_id.variant == uuid.RFC_4122 for e in envelopes)
    assert {e.occurred_at for e in envelopes} == {envelopes[0].occurred_at}
    assert envelopes[0].occurred_at >= before.replace(microsecond=0)
    assert [e.correlation_id for e in envelopes] == ["file:abc"] * 3
    assert prepared.copy_text.count(b"\n") == 3 and b"\t7\tFULINS.xml\n" in prepared.copy_text


def test_a_zipped_file_is_cut_from_its_member(reference_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "DLTINS.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(reference_dir / "firds" / DELTA, DELTA)
    chunks = list(iter_record_chunks(archive, DEFAULT_ZIP_LIMITS, chunk_bytes=64 << 10))
    assert sum(prepare_chunk(_job(c, 1, "x", "c")).rows_read for c in chunks) == 1382
    # a zip member's records travel with the piece; a plain file's are read again where
    # they are, into the same documents
    assert all(c.body is not None and c.span is None for c in chunks)
    plain = list(
        iter_record_chunks(
            reference_dir / "firds" / DELTA, DEFAULT_ZIP_LIMITS, chunk_bytes=64 << 10
        )
    )
    assert all(c.body is None and c.span is not None for c in plain)
    assert [c.document() for c in plain] == [c.document() for c in chunks]


def test_a_piece_whose_records_changed_in_the_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "FULINS.xml"
    path.write_bytes(_firds(_record(0) + _record(1, name="B") + _record(2)))
    (chunk,) = iter_record_chunks(path, DEFAULT_ZIP_LIMITS)
    path.write_bytes(path.read_bytes().replace(b"<FullNm>B<", b"<FullNm>C<"))
    prepared = prepare_chunk(_job(chunk, 7, "FULINS.xml", "file:abc"))
    assert prepared.changed_file is not None and str(path) in prepared.changed_file
    assert prepared.rows_read == 0 and prepared.events == 0 and not prepared.copy_text


def test_a_created_event_turns_into_a_modification_and_nothing_else_does() -> None:
    template = RecordedJson(
        occurred_at="2026-11-22T05:00:00Z", correlation_id="c", other_ids={}, source_file="f.xml"
    )
    created = template.render(
        str(uuid.uuid4()),
        "created",
        "DE0000000009",
        "XEUR",
        '"created" in the name',
        None,
        "EUR",
        "2020-01-01",
        None,
    )
    modified = Envelope[InstrumentRecorded].model_validate_json(as_modification(created))
    assert modified.payload.change == "modified"
    assert modified.payload.name == '"created" in the name'
    with pytest.raises(ValueError, match="not a created"):
        as_modification(as_modification(created))


def test_event_ids_made_per_piece_are_distinct_version_4_uuids() -> None:
    ids = random_uuids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
