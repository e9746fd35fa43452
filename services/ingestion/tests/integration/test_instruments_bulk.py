"""The bulk load of large FIRDS files over the real broker and Postgres: the same rows,
quarantine and events as the record-by-record path, nothing from a truncated file, and a
fall back to the record-by-record comparison when instruments are already known."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion import instrument_bulk, service
from ingestion.domain.records import Reject
from ingestion.parsers import MalformedXmlError, parse_file
from ingestion.parsers.errors import FileChangedError
from ingestion.service import ingest_instruments
from ingestion.summary import IngestSummary
from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import drain_outbox
from secmaster_common.events import topics
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.databases import create_service_database, drop_database
from secmaster_common.testing.kafka import header_map, read_envelopes, read_records

pytestmark = pytest.mark.integration

Publish = Callable[[], Awaitable[int]]

INSTRUMENT_COLUMNS = (
    "isin, mic, version, status, change, full_name, short_name, cfi, currency, issuer_lei, "
    "valid_from, valid_to, expiry_date, competent_authority, other_ids, content_hash, source, "
    "superseded_at IS NULL AS current"
)

FRAMED = (
    "SELECT count(*) AS rows, sum(framed_events) AS events FROM outbox "
    "WHERE framed_events IS NOT NULL"
)


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every FIRDS file takes the bulk path here, cut into many small pieces."""
    monkeypatch.setattr(service, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(instrument_bulk, "CHUNK_BYTES", 64 << 10)


async def ingest(engine: AsyncEngine, path: Path, *, workers: int) -> IngestSummary:
    parsed = parse_file(path)
    return await ingest_instruments(
        engine=engine, path=path, fmt=parsed.format, items=parsed.items, parse_workers=workers
    )


async def rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql))).all())


def _payloads(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(((e["_key"], e["payload"]) for e in events), key=lambda kp: (kp[0], str(kp[1])))


async def test_bulk_load_stores_and_publishes_what_record_by_record_does(
    engine: AsyncEngine,
    publish: Publish,
    test_topics: Any,
    pg_dsn: str,
    kafka_bootstrap: str,
    reference_dir: Path,
) -> None:
    path = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    bulk = await ingest(engine, path, workers=2)
    # the real delta chunk: 1,382 terminated records, the first cut by its splitter
    assert (bulk.rows_read, bulk.records, bulk.published) == (1382, 1381, 1381)
    assert dict(bulk.quarantined) == {"missing_isin": 1}
    assert dict(bulk.changes) == {"terminated": 1381}
    # loaded in pieces: several framed outbox rows holding every event
    framed = await rows(engine, FRAMED)
    assert framed[0].rows > 3 and framed[0].events == 1381
    # framed values are stored lz4-compressed where the server has lz4, else as they are
    lz4 = await rows(
        engine,
        "SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings "
        "WHERE name = 'default_toast_compression'",
    )
    stored = await rows(
        engine,
        "SELECT DISTINCT pg_column_compression(value) AS method FROM outbox "
        "WHERE framed_events IS NOT NULL",
    )
    assert [r.method for r in stored] == (["lz4"] if lz4[0].has else [None])
    assert await publish() == 1381

    other_prefix = f"rbr{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        kafka_bootstrap, [other_prefix + topics.REFERENCE_INSTRUMENTS], partitions=1
    )
    dsn = await create_service_database(pg_dsn, f"sm_{uuid.uuid4().hex[:12]}")
    other = make_engine(service_role_dsn(dsn, "ingestion", "app"), schema="ingestion")
    try:
        by_record = await ingest(other, path, workers=0)
        assert by_record.as_dict() | {"file_id": None} == bulk.as_dict() | {"file_id": None}
        assert (await rows(other, FRAMED))[0].rows == 0
        order = " ORDER BY isin, mic, version"
        sql = f"SELECT {INSTRUMENT_COLUMNS} FROM instruments{order}"
        assert await rows(engine, sql) == await rows(other, sql)
        quarantine = "SELECT row_no, reason, detail FROM quarantine ORDER BY row_no"
        assert await rows(engine, quarantine) == await rows(other, quarantine)
        assert (
            await drain_outbox(
                service="ingestion",
                engine=other,
                bootstrap_servers=kafka_bootstrap,
                topic_prefix=other_prefix,
            )
            == 1381
        )
    finally:
        await other.dispose()
        await drop_database(pg_dsn, dsn)

    bulk_events = await read_envelopes(kafka_bootstrap, test_topics.instruments)
    other_events = await read_envelopes(
        kafka_bootstrap, other_prefix + topics.REFERENCE_INSTRUMENTS
    )
    assert len(bulk_events) == len(other_events) == 1381
    assert _payloads(bulk_events) == _payloads(other_events)
    assert len({e["event_id"] for e in bulk_events}) == 1381
    # every record carries its envelope's ids as headers
    for record in (await read_records(kafka_bootstrap, test_topics.instruments))[:50]:
        headers = header_map(record)
        envelope = next(e for e in bulk_events if e["event_id"] == headers["event_id"])
        assert headers["event_type"] == envelope["event_type"] == "instrument.recorded"
        assert headers["correlation_id"] == envelope["correlation_id"]
        assert record.key.decode() == envelope["payload"]["isin"]


async def test_a_truncated_file_stores_and_publishes_nothing(
    engine: AsyncEngine, publish: Publish, firds: Any, tmp_path: Path
) -> None:
    whole = firds.write("FULINS_whole.xml", [firds.row(n) for n in range(400)]).read_bytes()
    cut = tmp_path / "FULINS_cut.xml"
    cut.write_bytes(whole[: int(len(whole) * 0.7)])  # inside a record, far past the first piece
    with pytest.raises(MalformedXmlError, match="truncated"):
        await ingest(engine, cut, workers=2)
    assert await rows(engine, "SELECT count(*) FROM instruments") == [(0,)]
    assert await rows(engine, "SELECT count(*) FROM files") == [(0,)]
    assert await publish() == 0


async def test_known_instruments_are_merged_piece_by_piece(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    first = await ingest(
        engine, firds.write("FULINS_1.xml", [firds.row(n) for n in range(300)]), workers=2
    )
    assert dict(first.changes) == {"created": 300}
    # the next full file: 300 new records, then the known ones with one renamed; from the
    # first known key on, pieces are compared with the current versions in bulk
    new = [firds.row(n) for n in range(300, 600)]
    rows_2 = new + [firds.row(n, name="RENAMED" if n == 150 else None) for n in range(300)]
    second = await ingest(engine, firds.write("FULINS_2.xml", rows_2), workers=2)
    assert dict(second.changes) == {"modified": 1, "created": 300}
    assert (second.records, second.unchanged, second.published) == (600, 299, 301)
    assert (await rows(engine, FRAMED))[0].events == 300 + 301
    assert await publish() == 601

    events = await read(test_topics.instruments)
    assert Counter(e["payload"]["change"] for e in events) == {"created": 600, "modified": 1}
    (renamed,) = [e for e in events if e["payload"]["change"] == "modified"]
    assert renamed["payload"]["isin"] == firds.row(150).isin
    assert renamed["payload"]["name"] == "RENAMED"
    history = await rows(
        engine,
        f"SELECT version, full_name, superseded_at IS NULL FROM instruments "
        f"WHERE isin = '{firds.row(150).isin}' ORDER BY version",
    )
    assert history == [(1, "TEST INSTRUMENT 150", False), (2, "RENAMED", True)]
    assert await rows(engine, "SELECT count(*) FROM instruments WHERE superseded_at IS NULL") == [
        (600,)
    ]


async def test_the_same_records_in_another_file_publish_nothing(
    engine: AsyncEngine, publish: Publish, reference_dir: Path, tmp_path: Path
) -> None:
    path = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    first = await ingest(engine, path, workers=2)
    assert first.published == 1381
    copy = tmp_path / "DLTINS_copy.xml"
    copy.write_bytes(path.read_bytes() + b"\n")  # another checksum, the same records
    again = await ingest(engine, copy, workers=2)
    assert (again.records, again.unchanged, again.published) == (1381, 1381, 0)
    assert dict(again.changes) == {}
    assert await publish() == 1381


async def test_the_same_file_again_is_recognised_by_its_checksum_and_publishes_nothing(
    engine: AsyncEngine,
    publish: Publish,
    test_topics: Any,
    read: Any,
    firds: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = firds.write("FULINS_same.xml", [firds.row(n) for n in range(400)])
    first = await ingest(engine, path, workers=2)
    assert first.published == 400
    # the registry holds the checksum computed during the load, not the provisional one
    digest = service.file_sha256(path)
    assert await rows(engine, "SELECT id, sha256 FROM files") == [(first.file_id, digest)]
    # the events name the file by its registry id
    events = await read(test_topics.instruments) if await publish() == 400 else []
    assert {e["correlation_id"] for e in events} == {f"file:{first.file_id}"}

    # the second time the checksum is known before the load ends: it stops between pieces
    stopped_between_pieces: list[bool] = []
    load = instrument_bulk.load_firds_bulk

    async def load_and_watch(**kwargs: Any) -> None:
        try:
            await load(**kwargs)
        except Exception:
            stopped_between_pieces.append(True)
            raise

    monkeypatch.setattr(service, "load_firds_bulk", load_and_watch)
    progress: list[int] = []
    again = await ingest_instruments(
        engine=engine,
        path=path,
        fmt="firds",
        items=parse_file(path).items,
        parse_workers=2,
        progress=progress.append,
    )
    assert again.duplicate_of == first.file_id
    assert (again.published, again.rows_read, again.records) == (0, 400, 400)
    assert stopped_between_pieces == [True] and sum(progress) == 0
    assert await rows(engine, "SELECT count(*) FROM files") == [(1,)]
    assert await rows(engine, "SELECT count(*) FROM instruments") == [(400,)]
    assert await publish() == 0


async def test_a_key_twice_in_one_piece_is_read_record_by_record(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    records = [firds.row(n) for n in range(400)]
    records.insert(351, firds.row(350, name="RENAMED"))  # the same key, a few rows later
    path = firds.write("FULINS_twice.xml", records)
    progress: list[int] = []
    parsed = parse_file(path)
    summary = await ingest_instruments(
        engine=engine,
        path=path,
        fmt=parsed.format,
        items=parsed.items,
        parse_workers=2,
        progress=progress.append,
    )
    # the pieces before it were counted, then given back: the file is read again
    assert sum(progress) == 401 and any(n < 0 for n in progress)
    assert dict(summary.changes) == {"created": 400, "modified": 1}
    assert (await rows(engine, FRAMED))[0].rows == 0
    assert await publish() == 401
    events = await read(test_topics.instruments)
    assert [
        e["payload"]["name"] for e in events if e["payload"]["isin"] == firds.row(350).isin
    ] == [
        "TEST INSTRUMENT 350",
        "RENAMED",
    ]


async def test_a_broken_record_deep_in_the_file_is_reported_with_its_line(
    engine: AsyncEngine, publish: Publish, firds: Any, tmp_path: Path
) -> None:
    text = firds.write("FULINS_ok.xml", [firds.row(n) for n in range(400)]).read_text()
    lines = text.splitlines(keepends=True)
    # record 301 (line 303 of the file) loses a closing tag, pieces after the first
    lines[302] = lines[302].replace("</FullNm>", "", 1)
    broken = tmp_path / "FULINS_broken.xml"
    broken.write_text("".join(lines))
    with pytest.raises(MalformedXmlError, match="not well-formed XML") as caught:
        await ingest(engine, broken, workers=2)
    assert caught.value.where is not None and caught.value.where.startswith("line 303,")
    assert await rows(engine, "SELECT count(*) FROM instruments") == [(0,)]
    assert await publish() == 0


async def test_rejects_in_later_pieces_name_the_rows_and_lines_the_whole_file_does(
    engine: AsyncEngine, publish: Publish, firds: Any
) -> None:
    # pieces after the first are numbered by the loader, in order (see RecordChunk)
    bad = {5, 250, 390}
    path = firds.write(
        "FULINS_rejects.xml", [firds.row(n, mic="QQQQ" if n in bad else "XEUR") for n in range(400)]
    )
    summary = await ingest(engine, path, workers=2)
    assert (summary.rows_read, summary.published) == (400, 397)
    assert dict(summary.quarantined) == {"invalid_mic": 3}
    whole = [i for i in parse_file(path, "firds").items if isinstance(i, Reject)]
    assert [r.row for r in whole] == [n + 1 for n in sorted(bad)]
    assert all(f"(XML line {r.row + 2})" in r.detail for r in whole)  # a record a line
    stored = await rows(engine, "SELECT row_no, reason, detail FROM quarantine ORDER BY row_no")
    assert [tuple(r) for r in stored] == [(r.row, str(r.reason), r.detail) for r in whole]
    assert await publish() == 397


async def test_a_file_written_to_while_it_is_loaded_stores_and_publishes_nothing(
    engine: AsyncEngine,
    publish: Publish,
    firds: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "FULINS_changing.xml"
    path.write_bytes(firds.write("FULINS_src.xml", [firds.row(n) for n in range(400)]).read_bytes())
    cut_into_pieces = instrument_bulk.iter_record_chunks

    def changed_after_the_first_piece(*args: Any, **kwargs: Any) -> Any:
        pieces = cut_into_pieces(*args, **kwargs)
        first = next(pieces)
        # a record of the first piece is rewritten after the splitter read it
        data = path.read_bytes()
        at = data.index(b"<FullNm>") + len(b"<FullNm>")
        path.write_bytes(data[:at] + b"X" + data[at + 1 :])
        yield first
        yield from pieces

    monkeypatch.setattr(instrument_bulk, "iter_record_chunks", changed_after_the_first_piece)
    with pytest.raises(FileChangedError, match="changed while it was being read"):
        await ingest(engine, path, workers=2)
    assert await rows(engine, "SELECT count(*) FROM instruments") == [(0,)]
    assert await rows(engine, "SELECT count(*) FROM files") == [(0,)]
    assert await publish() == 0
