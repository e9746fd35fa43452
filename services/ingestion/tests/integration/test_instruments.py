"""Instrument files over the real broker and Postgres: versions keyed by (ISIN, MIC), and
only new or changed records announced on reference.instruments.v1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.parsers import MalformedXmlError, parse_file
from ingestion.service import ingest_instruments
from ingestion.summary import IngestSummary

pytestmark = pytest.mark.integration

Publish = Callable[[], Awaitable[int]]


async def ingest(engine: AsyncEngine, path: Path, *, batch_size: int = 2000) -> IngestSummary:
    parsed = parse_file(path)
    return await ingest_instruments(
        engine=engine, path=path, fmt=parsed.format, items=parsed.items, batch_size=batch_size
    )


async def rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql))).all())


async def test_reingesting_a_file_publishes_nothing_new(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    path = firds.write("FULINS_1.xml", [firds.row(n) for n in range(30)])
    first = await ingest(engine, path, batch_size=7)
    assert (first.records, first.published, dict(first.changes)) == (30, 30, {"created": 30})
    assert await publish() == 30

    again = await ingest(engine, path)
    assert again.duplicate_of == first.file_id and again.published == 0
    # the same records in a file with another checksum: compared record by record
    copy = firds.write("FULINS_2.xml", [firds.row(n) for n in reversed(range(30))])
    third = await ingest(engine, copy)
    assert (third.records, third.unchanged, third.published) == (30, 30, 0)
    assert await publish() == 0

    events = await read(test_topics.instruments)
    assert len(events) == 30
    assert Counter(e["payload"]["change"] for e in events) == {"created": 30}
    first_event = events[0]
    assert first_event["_key"] == first_event["payload"]["isin"] == firds.row(0).isin
    assert first_event["payload"]["mic"] == "XEUR"
    assert first_event["payload"]["valid_from"] == "2019-12-23"
    assert first_event["event_type"] == "instrument.recorded"
    assert await rows(engine, "SELECT count(*) FROM instruments") == [(30,)]


async def test_a_modified_record_publishes_one_modification(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    await ingest(engine, firds.write("FULINS.xml", [firds.row(n) for n in range(5)]))
    delta = firds.write(
        "DLTINS.xml",
        [
            firds.row(2, name="RENAMED INSTRUMENT 2", kind="ModfdRcrd"),
            firds.row(3, kind="ModfdRcrd"),  # restates what we have: no event
        ],
        delta=True,
    )
    summary = await ingest(engine, delta)
    assert (summary.published, summary.unchanged) == (1, 1)
    await publish()

    events = await read(test_topics.instruments)
    modified = [e["payload"] for e in events if e["payload"]["change"] == "modified"]
    assert len(events) == 6
    assert [(m["isin"], m["name"]) for m in modified] == [
        (firds.row(2).isin, "RENAMED INSTRUMENT 2")
    ]
    history = await rows(
        engine,
        f"SELECT version, full_name, superseded_at IS NULL FROM instruments "
        f"WHERE isin = '{firds.row(2).isin}' ORDER BY version",
    )
    assert history == [
        (1, "TEST INSTRUMENT 2", False),
        (2, "RENAMED INSTRUMENT 2", True),
    ]


async def test_a_delta_with_terminations_closes_validity(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    await ingest(engine, firds.write("FULINS.xml", [firds.row(n) for n in range(4)]))
    delta = firds.write(
        "DLTINS.xml",
        [
            firds.row(1, kind="TermntdRcrd", terminated="2021-01-15T23:59:59Z"),
            firds.row(2, kind="CancRcrd"),
            firds.row(9, kind="NewRcrd"),
            # the same key twice in one file: each record sees the version the one before made
            firds.row(3, name="RENAMED 3", kind="ModfdRcrd"),
            firds.row(3, name="RENAMED 3", kind="TermntdRcrd", terminated="2021-01-16T00:00:00Z"),
        ],
        delta=True,
    )
    summary = await ingest(engine, delta)
    assert dict(summary.changes) == {
        "terminated": 2,
        "cancelled": 1,
        "created": 1,
        "modified": 1,
    }
    await publish()

    events = [e["payload"] for e in await read(test_topics.instruments)]
    assert Counter(e["change"] for e in events) == {
        "created": 5,
        "terminated": 2,
        "cancelled": 1,
        "modified": 1,
    }
    terminated = next(e for e in events if e["change"] == "terminated")
    assert (terminated["isin"], terminated["valid_to"]) == (firds.row(1).isin, "2021-01-15")
    current = await rows(
        engine,
        "SELECT isin, status, valid_to FROM instruments WHERE superseded_at IS NULL ORDER BY isin",
    )
    states = {isin: (status, valid_to.date().isoformat()) for isin, status, valid_to in current}
    assert states[firds.row(1).isin] == ("terminated", "2021-01-15")
    assert states[firds.row(2).isin][0] == "cancelled"
    assert states[firds.row(0).isin] == ("active", "2031-01-15")
    assert states[firds.row(3).isin] == ("terminated", "2021-01-16")
    assert len(states) == 5
    history = await rows(
        engine,
        f"SELECT version, change FROM instruments WHERE isin = '{firds.row(3).isin}' "
        "ORDER BY version",
    )
    assert history == [(1, "created"), (2, "modified"), (3, "terminated")]


async def test_the_real_firds_delta_chunk(
    engine: AsyncEngine, publish: Publish, test_topics: Any, read: Any, reference_dir: Path
) -> None:
    path = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    summary = await ingest(engine, path)
    # 1,382 records: the first was cut by the splitter (no ISIN) and is quarantined
    assert summary.rows_read == 1382
    assert dict(summary.quarantined) == {"missing_isin": 1}
    assert dict(summary.changes) == {"terminated": 1381}
    assert await publish() == 1381
    events = await read(test_topics.instruments)
    assert len(events) == 1381
    assert {e["payload"]["mic"] for e in events} == {"XEUR", "XEER"}
    quarantine = await rows(engine, "SELECT row_no, reason FROM quarantine")
    assert quarantine == [(1, "missing_isin")]


async def test_a_truncated_file_publishes_nothing_and_leaves_no_rows(
    engine: AsyncEngine, publish: Publish, test_topics: Any, firds: Any, read: Any
) -> None:
    whole = firds.write("FULINS.xml", [firds.row(n) for n in range(200)])
    cut = whole.with_name("FULINS_cut.xml")
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(MalformedXmlError, match="truncated"):
        # batches of 10 were written before the parser reached the cut
        await ingest(engine, cut, batch_size=10)
    assert await publish() == 0
    assert await read(test_topics.instruments) == []
    for table in ("files", "instruments", "quarantine", "outbox"):
        assert await rows(engine, f"SELECT count(*) FROM {table}") == [(0,)], table
