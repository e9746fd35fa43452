"""`secmaster figi map` cache-first and `secmaster figi cache stats|clear|refresh-stale|
import` against a real Postgres (DATABASE_URL, used as the enrichment app role) and the
OpenFIGI emulator on a real socket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from secmaster.cli import build_app

from .conftest import StartEmulator, emulator_stats

pytestmark = pytest.mark.integration

IBM_ISIN, UNKNOWN_CUSIP, BAD_CUSIP = "US4592001014", "000000000", "ZZZZZZZZZ"


async def figi(database_url: str, *args: str) -> Result:
    """Run `secmaster figi ...` in a thread (it runs its own event loop)."""
    env = {"DATABASE_URL": database_url, "OPENFIGI_API_KEY": ""}
    return await asyncio.to_thread(
        CliRunner().invoke, build_app(), ["figi", *args], env=env, catch_exceptions=False
    )


def records(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_map_caches_answers_and_reads_them_back(
    fresh_database: str, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator()
    ids = [IBM_ISIN, UNKNOWN_CUSIP]
    first = records(await figi(fresh_database, "map", "--base-url", url, "--json", *ids))
    second = records(await figi(fresh_database, "map", "--base-url", url, "--json", *ids))
    assert [(r["id_value"], r["status"], r["cached"]) for r in first] == [
        (IBM_ISIN, "mapped", False),
        (UNKNOWN_CUSIP, "not_found", False),
    ]
    assert [(r["id_value"], r["status"], r["cached"]) for r in second] == [
        (IBM_ISIN, "mapped", True),
        (UNKNOWN_CUSIP, "not_found", True),
    ]
    for _ in range(2):  # an error answer is asked again each time, never cached
        [bad] = records(
            await figi(fresh_database, "map", "--base-url", url, "--json",
                       "--id-type", "ID_CUSIP", BAD_CUSIP)
        )  # fmt: skip
        assert (bad["status"], bad["message"], bad["cached"]) == (
            "invalid", "Invalid idValue format.", False,
        )  # fmt: skip
    same = ("figi", "ticker", "exch_code", "composite_figi", "share_class_figi", "name",
            "security_type", "market_sector", "listings")  # fmt: skip
    assert {k: second[0][k] for k in same} == {k: first[0][k] for k in same}
    assert (second[0]["ticker"], second[0]["listings"]) == ("IBM", 198)
    assert (await emulator_stats(url))["total"] == 3  # 1 for both ids, 2 for the error

    direct = records(
        await figi(fresh_database, "map", "--no-cache", "--base-url", url, "--json", IBM_ISIN)
    )
    assert direct[0]["figi"] == first[0]["figi"] and "cached" not in direct[0]
    assert (await emulator_stats(url))["total"] == 4  # --no-cache always asks OpenFIGI

    stats = records(await figi(fresh_database, "cache", "stats", "--json"))
    assert {k: stats[k] for k in ("mapped", "negative", "history", "stale", "listings")} == {
        "mapped": 1, "negative": 1, "history": 0, "stale": 0, "listings": 198,
    }  # fmt: skip


async def test_import_refresh_stale_and_clear(
    fresh_database: str, start_emulator: StartEmulator, tmp_path: Path
) -> None:
    url, _ = start_emulator()
    legacy = tmp_path / "openfigi-cache.json"
    ibm = {"figi": "BBG000BLNNH6", "ticker": "IBM", "exchCode": "US",
           "compositeFIGI": "BBG000BLNNH6", "name": "IBM CORP"}  # fmt: skip
    # robarthur/openfigi-cache style: "{idType}_{idValue}" -> the raw answer.
    answers = {
        f"ID_ISIN_{IBM_ISIN}": {"data": [ibm]},
        f"ID_CUSIP_{UNKNOWN_CUSIP}": {"warning": "No identifier found."},
        f"ID_CUSIP_{BAD_CUSIP}": {"error": "Invalid idValue format."},
        "NOT_AN_ID_TYPE_X": {"warning": "No identifier found."},
    }
    legacy.write_text(json.dumps(answers), encoding="utf-8")
    table = tmp_path / "securities.csv"
    table.write_text(
        "Ticker,ISIN,CUSIP,FIGI\n"
        "MSFT,US5949181045,594918104,BBG000BPH459\n"
        "AAPL,US0378331005,037833100,BBG000B9XRY4\n"
        "BAD,US0378331003,,BBG000B9XRY4\n",
        encoding="utf-8",
    )
    imported = await figi(
        fresh_database, "cache", "import", str(legacy), "--fetched-at", "2020-01-02", "--json"
    )
    summary = records(imported)
    assert (summary["mapped"], summary["not_found"], summary["added"]) == (1, 1, 2)
    assert summary["skipped"] == 2
    assert "error answer not imported" in imported.stderr and "NOT_AN_ID_TYPE_X" in imported.stderr
    from_csv = await figi(fresh_database, "cache", "import", str(table), "--json")
    csv_summary = records(from_csv)
    # 2 good rows: FIGI, ISIN and CUSIP each; the row with a bad ISIN is skipped whole.
    assert (csv_summary["added"], csv_summary["skipped"]) == (6, 1)
    assert "line 4" in from_csv.stderr and "US0378331003" in from_csv.stderr

    cached = records(
        await figi(fresh_database, "map", "--base-url", url, "--json", "594918104", "BBG000B9XRY4")
    )
    assert [(r["ticker"], r["cached"]) for r in cached] == [("MSFT", True), ("AAPL", True)]
    assert (await emulator_stats(url))["total"] == 0

    stats = records(await figi(fresh_database, "cache", "stats", "--json"))
    assert (stats["mapped"], stats["negative"], stats["stale"]) == (7, 1, 2)  # the 2020 ones
    refreshed = records(
        await figi(fresh_database, "cache", "refresh-stale", "--base-url", url, "--json")
    )
    assert refreshed == {"stale": 2, "mapped": 1, "not_found": 1, "invalid": 0,
                         "ticker_changed": 0}  # fmt: skip
    after = records(await figi(fresh_database, "cache", "stats", "--json"))
    assert (after["stale"], after["mapped"], after["negative"]) == (0, 7, 1)
    assert after["listings"] >= 198  # the refreshed IBM answer brought every listing

    negatives = records(await figi(fresh_database, "cache", "clear", "--negatives", "--yes",
                                   "--json"))  # fmt: skip
    assert negatives["deleted"]["mappings"] == 1
    cleared = records(await figi(fresh_database, "cache", "clear", "--yes", "--json"))
    assert cleared["deleted"]["mappings"] == 7
    empty = records(await figi(fresh_database, "cache", "stats", "--json"))
    assert (empty["mapped"], empty["negative"], empty["listings"]) == (0, 0, 0)


async def test_import_of_an_unreadable_file_says_why(fresh_database: str, tmp_path: Path) -> None:
    broken = tmp_path / "cache.json"
    broken.write_text('{"ID_ISIN_X": ', encoding="utf-8")
    result = await figi(fresh_database, "cache", "import", str(broken))
    assert result.exit_code == 2
    assert "invalid JSON at line 1" in result.stderr and str(broken) in result.stderr
    no_figi = tmp_path / "tickers.csv"
    no_figi.write_text("ticker,isin\nIBM,US4592001014\n", encoding="utf-8")
    result = await figi(fresh_database, "cache", "import", str(no_figi))
    assert result.exit_code == 2 and "FIGI column" in result.stderr
