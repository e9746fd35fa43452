"""`secmaster prices fetch` through the real root app, against the emulator over a socket."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pricing.adapters.providers.sandbox import sandbox_series
from pricing.adapters.providers.yahoo import parse_chart
from pricing.cli import result_json
from secmaster.cli import build_app

from .conftest import Recording

runner = CliRunner()
ARGS = ["prices", "fetch", "--symbol", "NVDA", "--start", "2024-02-26", "--end", "2024-03-08"]


@pytest.mark.parametrize("provider", ["yahoo", "alpaca", "polygon", "alphavantage"])
def test_fetch_json_from_each_emulated_provider(emulator_url: str, provider: str) -> None:
    result = runner.invoke(
        build_app(),
        [
            *ARGS,
            "--provider",
            provider,
            "--base-url",
            emulator_url,
            "--api-key",
            "id:secret",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["symbol"], doc["provider"], doc["actions"]) == ("NVDA", provider, [])
    expected = sandbox_series("NVDA", date(2024, 2, 26), date(2024, 3, 8))
    assert [b["date"] for b in doc["bars"]] == [b.trading_date.isoformat() for b in expected.bars]
    assert len(doc["bars"]) == 10
    first = doc["bars"][0]
    assert set(first) == {"date", "open", "high", "low", "close", "adj_close", "volume"}
    assert (first["close"], first["volume"]) == (
        expected.bars[0].close,
        int(expected.bars[0].volume),
    )
    assert isinstance(first["volume"], int)


def test_json_document_of_the_real_split_and_dividend_recording(recording: Recording) -> None:
    body = recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    doc = result_json(parse_chart(body))
    assert doc["actions"] == [
        {"type": "split", "date": "2020-08-31", "ratio": 4.0},
        {"type": "dividend", "date": "2020-11-06", "amount": 0.205},
    ]
    assert doc["bars"][0] == {
        "date": "2020-08-31",
        "open": 127.58,
        "high": 131.0,
        "low": 126.0,
        "close": 129.04,
        "adj_close": 125.8267,
        "volume": 225702700,
    }


def test_sandbox_needs_no_network_and_says_it_is_synthetic() -> None:
    result = runner.invoke(build_app(), [*ARGS, "--provider", "sandbox", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["synthetic"] is True and len(doc["bars"]) == 10
    assert "synthetic" in result.stderr


def test_local_files_intraday_rows_carry_ts(tmp_path: Path) -> None:
    folder = tmp_path / "ohlcv" / "SPY" / "1m"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-03-15 09:30:00,510.0,510.5,509.8,510.2,1200\n"
        "2024-03-15 09:31:00,510.2,510.3,510.0,510.1,800\n"
    )
    result = runner.invoke(
        build_app(),
        [
            "prices",
            "fetch",
            "--provider",
            "local",
            "--base-url",
            str(tmp_path),
            "--symbol",
            "SPY",
            "--start",
            "2024-03-15",
            "--end",
            "2024-03-15",
            "--interval",
            "1m",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    bars = json.loads(result.stdout)["bars"]
    assert [b["ts"] for b in bars] == ["2024-03-15T13:30:00Z", "2024-03-15T13:31:00Z"]
    assert "date" not in bars[0]


def test_provider_errors_exit_non_zero_with_advice(emulator_url: str) -> None:
    unknown = runner.invoke(
        build_app(),
        [
            "prices",
            "fetch",
            "--provider",
            "yahoo",
            "--base-url",
            emulator_url,
            "--symbol",
            "INVALID",
            "--start",
            "2024-01-02",
            "--end",
            "2024-01-05",
            "--json",
        ],
    )
    assert unknown.exit_code == 1
    assert "symbol may be delisted" in unknown.stderr and unknown.stdout == ""
    httpx.post(
        f"{emulator_url}/_admin/faults",
        json={"provider": "alpaca", "kind": "rate_limit"},
        timeout=5,
    )
    limited = runner.invoke(
        build_app(), [*ARGS, "--provider", "alpaca", "--base-url", emulator_url, "--api-key", "a:b"]
    )
    assert limited.exit_code == 1
    assert "429" in limited.stderr and "retry in" in limited.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--start", "2024-13-01"], "not a date"),
        (["--provider", "bloomberg"], "unknown provider"),
        (["--interval", "7m"], "unknown interval"),
        (["--start", "2024-04-01"], "is after --end"),
    ],
)
def test_bad_input_says_what_and_where(change: list[str], message: str) -> None:
    args = [*ARGS, "--provider", "sandbox", *change]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 2
    assert message in result.stderr
