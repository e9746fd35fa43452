"""Holdings files over the real broker and Postgres: one complete snapshot per portfolio
and as-of date, in ordered chunks with a final marker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.parsers import parse_file
from ingestion.service import ingest_holdings

pytestmark = pytest.mark.integration


async def test_spy_snapshot_arrives_complete_in_ordered_chunks(
    engine: AsyncEngine,
    publish: Callable[[], Awaitable[int]],
    test_topics: Any,
    read: Any,
    reference_dir: Path,
) -> None:
    path = reference_dir / "holdings" / "etf" / "SPY_holdings_2024-03-19.csv"
    parsed = parse_file(path)
    summary = await ingest_holdings(
        engine=engine,
        path=path,
        fmt=parsed.format,
        items=parsed.items,
        portfolio_id="SPY",
        as_of=dt.date(2024, 3, 19),
        chunk_size=100,
    )
    # 503 names and the fund's cash line, which has no security identifier
    assert (summary.rows_read, summary.records) == (504, 503)
    assert dict(summary.quarantined) == {"cash_position": 1}
    assert summary.published == 6
    assert await publish() == 6

    chunks = await read(test_topics.holdings)
    payloads = [c["payload"] for c in chunks]
    assert [p["chunk_index"] for p in payloads] == [0, 1, 2, 3, 4, 5]
    assert {p["chunk_count"] for p in payloads} == {6}
    assert {p["snapshot_id"] for p in payloads} == {str(summary.snapshot_id)}
    assert {c["_key"] for c in chunks} == {"SPY"}
    assert [len(p["holdings"]) for p in payloads] == [100, 100, 100, 100, 100, 3]
    lines = [line for p in payloads for line in p["holdings"]]
    assert len({line["identifiers"]["CUSIP"] for line in lines}) == 503
    assert all({"CUSIP", "SEDOL"} <= set(line["identifiers"]) for line in lines)

    again = parse_file(path)
    repeat = await ingest_holdings(
        engine=engine,
        path=path,
        fmt=again.format,
        items=again.items,
        portfolio_id="SPY",
        as_of=dt.date(2024, 3, 19),
        chunk_size=100,
    )
    assert repeat.duplicate_of == summary.file_id and repeat.published == 0
    assert await publish() == 0
    assert len(await read(test_topics.holdings)) == 6
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.text("SELECT count(*) FROM holdings"))
        cash = (await conn.execute(sa.text("SELECT reason, detail FROM quarantine"))).all()
    assert stored == 503
    assert cash == [("cash_position", "cash line US DOLLAR USD")]
