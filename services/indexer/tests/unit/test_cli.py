"""`secmaster index compute` and `secmaster risk` through the real root app."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmaster.cli import build_app

SPEC = """
id: two-stock
name: Two stock equal weight
base_date: 2024-01-30
weighting: equal
universe: {constituents: [X, Y]}
rebalance: monthly
"""
PRICES = """date,symbol,close
2024-01-30,X,10
2024-01-30,Y,10
2024-01-31,X,20
2024-01-31,Y,10
2024-02-01,X,20
2024-02-01,Y,10
2024-02-02,X,22
2024-02-02,Y,10
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_index_compute_prints_levels_and_rebalances_as_json(runner, tmp_path):
    args = [
        "index",
        "compute",
        "--spec",
        _write(tmp_path, "spec.yaml", SPEC),
        "--prices",
        _write(tmp_path, "prices.csv", PRICES),
        "--json",
    ]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["index_id"] == "two-stock"
    assert [row["date"] for row in doc["levels"]] == [
        "2024-01-30",
        "2024-01-31",
        "2024-02-01",
        "2024-02-02",
    ]
    assert [row["level"] for row in doc["levels"]] == pytest.approx([100, 150, 150, 157.5])
    assert all(set(row) >= {"date", "level", "divisor"} for row in doc["levels"])
    assert [(r["date"], r["weights"]) for r in doc["rebalances"]] == [
        ("2024-01-30", {"X": 0.5, "Y": 0.5}),
        ("2024-02-01", pytest.approx({"X": 0.5, "Y": 0.5})),
    ]


def test_holdings_index_from_files(runner, tmp_path):
    spec = _write(
        tmp_path,
        "fund.json",
        json.dumps(
            {
                "id": "fund-replica",
                "name": "Fund",
                "base_date": "2024-01-30",
                "weighting": "holdings",
                "universe": {"portfolio": "FUND-1"},
                "rebalance": "never",
            }
        ),
    )
    holdings = _write(
        tmp_path, "holdings.csv", "date,symbol,quantity\n2024-01-29,X,3\n2024-01-29,Y,1\n"
    )
    result = runner.invoke(
        build_app(),
        [
            "index",
            "compute",
            "--spec",
            spec,
            "--prices",
            _write(tmp_path, "p.csv", PRICES),
            "--holdings",
            holdings,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    levels = [row["level"] for row in json.loads(result.stdout)["levels"]]
    # Portfolio value 3 x X + 1 x Y: 40, 70, 70, 76, rebased to 100.
    assert levels == pytest.approx([100, 175, 175, 190])


def test_total_return_with_dividends_and_shares_files(runner, tmp_path):
    spec = _write(
        tmp_path,
        "tr.yaml",
        SPEC.replace("weighting: equal", "weighting: market_cap") + "return_type: total\n",
    )
    shares = _write(tmp_path, "shares.csv", "date,symbol,shares\n2024-01-30,X,1\n2024-01-30,Y,1\n")
    dividends = _write(tmp_path, "div.csv", "date,symbol,amount\n2024-01-31,Y,2\n")
    result = runner.invoke(
        build_app(),
        [
            "index",
            "compute",
            "--spec",
            spec,
            "--prices",
            _write(tmp_path, "p.csv", PRICES),
            "--shares",
            shares,
            "--dividends",
            dividends,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    levels = json.loads(result.stdout)["levels"]
    assert levels[1]["level"] == pytest.approx(100 * (20 + 10 + 2) / 20)
    assert "dividend:Y" in levels[1]["flags"]


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ("date,ticker,close\n2024-01-30,X,1\n", "missing column(s) symbol"),
        ("date,symbol,close\n2024-01-30,X,abc\n", "line 2: close 'abc' is not a number"),
        ("date,symbol,close\n30/01/2024,X,1\n", "line 2: date '30/01/2024' is not a YYYY-MM-DD"),
    ],
)
def test_bad_price_files_are_rejected_with_file_and_line(runner, tmp_path, prices, message):
    args = [
        "index",
        "compute",
        "--spec",
        _write(tmp_path, "s.yaml", SPEC),
        "--prices",
        _write(tmp_path, "p.csv", prices),
        "--json",
    ]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_bad_spec_names_the_field(runner, tmp_path):
    spec = _write(tmp_path, "s.yaml", SPEC.replace("rebalance: monthly", "rebalance: yearly"))
    result = runner.invoke(
        build_app(),
        ["index", "compute", "--spec", spec, "--prices", _write(tmp_path, "p.csv", PRICES)],
    )
    assert result.exit_code == 2
    assert "rebalance: Input should be" in " ".join(result.stderr.split())


def test_risk_reports_every_series_against_the_benchmark(runner, reference_dir):
    path = reference_dir / "indexmath" / "peer_inputs_daily_returns.csv"
    result = runner.invoke(
        build_app(), ["risk", "--returns", str(path), "--benchmark", "SPX", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"AAPL", "MSFT", "XOM", "EW3", "SYN_NORMAL", "SYN_T3"}
    assert len(doc["AAPL"]) == 12
    # specs/indexmath.md anchors for AAPL vs SPX.
    assert doc["AAPL"]["annual_volatility"] == pytest.approx(0.3887003325160781, rel=1e-12)
    assert doc["AAPL"]["beta"] == pytest.approx(1.025987, abs=1e-6)
    assert doc["AAPL"]["information_ratio"] == pytest.approx(0.094088 * math.sqrt(252), rel=1e-5)


def test_risk_without_benchmark_and_undefined_values_as_null(runner, tmp_path):
    path = _write(
        tmp_path,
        "r.csv",
        "date,flat,moving\n2024-01-02,0,0.01\n2024-01-03,0,-0.02\n"
        "2024-01-04,0,\n2024-01-05,0,0.03\n",
    )
    result = runner.invoke(build_app(), ["risk", "--returns", path, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["flat"]["sharpe_ratio"] is None
    assert "beta" not in doc["moving"]
    assert doc["moving"]["max_drawdown"] == pytest.approx(-0.02)


def test_risk_unknown_benchmark_lists_the_columns(runner, tmp_path):
    path = _write(tmp_path, "r.csv", "date,a,b\n2024-01-02,0.01,0.02\n")
    result = runner.invoke(build_app(), ["risk", "--returns", path, "--benchmark", "SPX"])
    assert result.exit_code == 2
    assert "no column 'SPX' for --benchmark; columns are a, b" in " ".join(result.stderr.split())
