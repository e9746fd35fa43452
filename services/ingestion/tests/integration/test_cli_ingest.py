"""`secmaster ingest` end to end: files stored as the ingestion app role, the outbox relayed
to the real broker by the command itself, counts in the JSON summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from secmaster.cli import build_app

pytestmark = pytest.mark.integration


def _env(dsn: str, topics: Any) -> dict[str, str]:
    return {
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap,
        "TOPIC_PREFIX": topics.prefix,
    }


async def _ingest(args: list[str], env: dict[str, str]) -> Any:
    runner = CliRunner()
    # the command runs its own event loop, so it gets a thread of its own
    return await asyncio.to_thread(runner.invoke, build_app(), ["ingest", *args], env=env)


async def test_ingest_publishes_files_and_reingesting_publishes_nothing(
    fresh_database: str, test_topics: Any, read: Any, reference_dir: Path, tmp_path: Path
) -> None:
    firds = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    spy = reference_dir / "holdings" / "etf" / "SPY_holdings_2024-03-19.csv"
    args = [str(firds), str(spy), "--portfolio-id", "SPY", "--as-of", "2024-03-19", "--json"]
    result = await _ingest(args, _env(fresh_database, test_topics))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["totals"] == {
        "read": 1382 + 504,
        "records": 1381 + 503,
        "published": 1381 + 2,  # two chunks of at most 500 holdings
        "quarantined": {"missing_isin": 1, "cash_position": 1},
    }
    assert out["relayed"] == 1383 and out["errors"] == []
    assert [f["format"] for f in out["files"]] == ["firds", "etf"]
    assert len(await read(test_topics.instruments)) == 1381
    chunks = [c["payload"] for c in await read(test_topics.holdings)]
    assert [(c["chunk_index"], c["chunk_count"], len(c["holdings"])) for c in chunks] == [
        (0, 2, 500),
        (1, 2, 3),
    ]

    again = await _ingest(args, _env(fresh_database, test_topics))
    assert again.exit_code == 0, again.output
    repeat = json.loads(again.stdout)
    assert repeat["totals"]["published"] == 0 and repeat["relayed"] == 0
    # what the files hold is still reported, from the first ingestion
    assert repeat["totals"]["records"] == 1381 + 503
    assert repeat["totals"]["quarantined"] == {"missing_isin": 1, "cash_position": 1}
    assert all(f["duplicate_of"] is not None for f in repeat["files"])
    assert len(await read(test_topics.instruments)) == 1381
    assert len(await read(test_topics.holdings)) == 2


async def test_a_bad_file_is_named_and_the_good_one_still_goes_in(
    fresh_database: str, test_topics: Any, read: Any, reference_dir: Path, tmp_path: Path
) -> None:
    source = reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml"
    cut = tmp_path / "DLTINS_cut.xml"
    cut.write_bytes(source.read_bytes()[:15_000])
    result = await _ingest([str(cut), str(source)], _env(fresh_database, test_topics))
    assert result.exit_code == 2
    assert "error [malformed_xml]" in result.stderr and "DLTINS_cut.xml" in result.stderr
    assert "truncated" in result.stderr
    assert "read 25, kept 25, published 25 (terminated 25)" in result.stdout
    events = await read(test_topics.instruments)
    assert len(events) == 25


def test_an_unreachable_database_is_reported(tmp_path: Path, reference_dir: Path) -> None:
    source = reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml"
    result = CliRunner().invoke(
        build_app(),
        ["ingest", str(source)],
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
    )
    assert result.exit_code == 3
    assert "error [database]" in result.stderr and "DATABASE_URL" in result.stderr
