"""`secmaster parse` and `secmaster id validate`, driven through the root CLI app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from secmaster.cli import build_app

runner = CliRunner()


def test_parse_json_accounts_for_every_firds_record(reference_dir: Path) -> None:
    path = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    result = runner.invoke(build_app(), ["parse", str(path), "--format", "firds", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["format"] == "firds"
    assert len(out["records"]) + len(out["rejects"]) == 1382
    assert out["rejects"][0]["row"] == 1
    assert out["rejects"][0]["reason"] == "missing_isin"
    assert "FinInstrmGnlAttrbts" in out["rejects"][0]["detail"]
    assert out["records"][0]["isin"] == "DE000C4SH1Y6"
    assert out["records"][0]["record_type"] == "terminated"


def test_parse_json_nport_detected(reference_dir: Path) -> None:
    path = reference_dir / "holdings" / "sec" / "NPORT.Dupree.xml"
    result = runner.invoke(build_app(), ["parse", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["format"] == "nport"
    assert len(out["records"]) == 55 and out["rejects"] == []
    assert out["records"][0]["as_of"] == "2022-12-31"


def test_parse_bad_input_exits_non_zero_with_message(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    result = runner.invoke(build_app(), ["parse", str(path), "--json"])
    assert result.exit_code == 2
    assert "empty" in result.stderr and str(path) in result.stderr
    assert result.stdout == ""


def test_parse_truncated_file_exits_non_zero(reference_dir: Path, tmp_path: Path) -> None:
    data = (reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[:20000])
    result = runner.invoke(build_app(), ["parse", str(cut), "--json"])
    assert result.exit_code == 2
    assert "truncated" in result.stderr


def test_id_validate_json_in_order_with_detection() -> None:
    values = ["US0378331005", "EZV1JDJ1R5Q9", "000000000", "N/A", "KYG92C84SB37", "2588173"]
    result = runner.invoke(build_app(), ["id", "validate", *values, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [o["value"] for o in out] == values
    assert [(o["type"], o["valid"], o["reason"]) for o in out] == [
        ("ISIN", True, None),
        ("ISIN", True, None),
        ("CUSIP", False, "placeholder"),
        (None, False, "not_available"),
        ("FIGI", False, "reserved_prefix"),
        ("SEDOL", True, None),
    ]


def test_id_validate_with_type_and_unknown_type() -> None:
    result = runner.invoke(
        build_app(), ["id", "validate", "5493REALLYUNLIKELY77", "--type", "lei", "--json"]
    )
    assert json.loads(result.stdout) == [
        {"value": "5493REALLYUNLIKELY77", "type": "LEI", "valid": False, "reason": "sample_value"}
    ]
    bad = runner.invoke(build_app(), ["id", "validate", "X", "--type", "WKN"])
    assert bad.exit_code == 2
    assert "unknown --type" in bad.stderr


def test_ingest_names_each_bad_file_and_touches_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    unknown = tmp_path / "notes.csv"
    unknown.write_text("hello,world\n1,2\n", encoding="utf-8")
    result = runner.invoke(
        build_app(),
        ["ingest", str(empty), str(unknown), str(tmp_path / "missing.xml")],
        # a database that does not exist: reaching for it would fail with exit code 3
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error [empty_file]") and "empty.xml" in lines[0]
    assert lines[1].startswith("error [unknown_format]") and "notes.csv" in lines[1]
    assert lines[2].startswith("error [bad_input]") and "no such file" in lines[2]


def test_parse_reads_a_generic_etf_csv_through_a_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "fund.csv"
    path.write_text(
        "Security Id,Nominal Held,Label\nUS0378331005,150,Apple\nUS5949181045,75,Microsoft\n"
    )
    result = CliRunner().invoke(
        build_app(),
        [
            "parse",
            str(path),
            "--format",
            "holdings",
            "--column",
            "identifier=Security Id",
            "--column",
            "quantity=Nominal Held",
            "--column",
            "name=Label",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    got = [(r["identifiers"]["isin"], r["quantity"], r["name"]) for r in doc["records"]]
    assert got == [("US0378331005", "150", "Apple"), ("US5949181045", "75", "Microsoft")]
    assert doc["rejects"] == []

    bad = CliRunner().invoke(build_app(), ["parse", str(path), "--column", "quantity", "--json"])
    assert bad.exit_code == 2
    assert "FIELD=HEADER" in bad.output
