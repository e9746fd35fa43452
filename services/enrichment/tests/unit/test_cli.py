"""`secmaster figi map` against the OpenFIGI emulator on a real socket: JSON aligned with
the inputs, statuses, --file, the key from the environment never printed, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from secmaster.cli import build_app

from .conftest import StartEmulator

KEY = "cli-secret-key"


def test_map_prints_json_aligned_with_inputs(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator()
    result = CliRunner().invoke(
        build_app(),
        ["figi", "map", "--no-cache", "--base-url", url, "--json",
         "US4592001014", "000000000", "BBG000B9Y5X2", "US0378331003"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["id_type"], r["id_value"], r["status"]) for r in records] == [
        ("ID_ISIN", "US4592001014", "mapped"),
        ("ID_CUSIP", "000000000", "not_found"),
        ("ID_BB_GLOBAL", "BBG000B9Y5X2", "mapped"),
        ("TICKER", "US0378331003", "not_found"),  # bad check digit: not taken as an ISIN
    ]
    ibm = records[0]
    assert {
        k: ibm[k] for k in ("figi", "ticker", "exch_code", "composite_figi", "share_class_figi")
    } == {
        "figi": "BBG000BLNNH6",
        "ticker": "IBM",
        "exch_code": "US",
        "composite_figi": "BBG000BLNNH6",
        "share_class_figi": "BBG001S5S399",
    }
    assert (ibm["name"], ibm["security_type"], ibm["market_sector"], ibm["listings"]) == (
        "INTL BUSINESS MACHINES CORP", "Common Stock", "Equity", 198,
    )  # fmt: skip
    assert records[1]["figi"] is None and records[1]["listings"] == 0


def test_map_from_file_with_id_type_and_key_from_env(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    url, _ = start_emulator(api_keys={KEY}, require_key=True)
    ids = tmp_path / "cusips.txt"
    ids.write_text("459200101\n\nZZZZZZZZZ\n000000000\n", encoding="utf-8")
    result = CliRunner().invoke(
        build_app(),
        ["figi", "map", "--no-cache", "--base-url", url, "--json",
         "--id-type", "ID_CUSIP", "--file", str(ids)],
        env={"OPENFIGI_API_KEY": KEY},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["id_value"], r["status"]) for r in records] == [
        ("459200101", "mapped"),
        ("ZZZZZZZZZ", "invalid"),
        ("000000000", "not_found"),
    ]
    assert records[1]["message"] == "Invalid idValue format."
    assert KEY not in result.output


def test_wrong_key_exits_with_a_configuration_message(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator(api_keys={KEY})
    result = CliRunner().invoke(
        build_app(),
        ["figi", "map", "--no-cache", "--base-url", url, "--json",
         "--api-key", "wrong-key-123", "IBM"],
    )  # fmt: skip
    assert result.exit_code == 3
    assert "API key" in result.stderr and "OPENFIGI_API_KEY" in result.stderr
    assert "wrong-key-123" not in result.output
    assert result.stdout == ""


def test_cached_path_without_a_database_says_what_to_do() -> None:
    result = CliRunner().invoke(
        build_app(),
        ["figi", "map", "--json", "US4592001014"],
        env={"DATABASE_URL": "postgresql://nobody:hunter2@127.0.0.1:1/nowhere"},
    )
    assert result.exit_code == 5
    assert "DATABASE_URL" in result.stderr and "--no-cache" in result.stderr
    assert "127.0.0.1:1" in result.stderr and "hunter2" not in result.output
    assert result.stdout == ""


def test_bad_input_is_explained() -> None:
    app = build_app()
    unknown_type = CliRunner().invoke(app, ["figi", "map", "--no-cache", "--id-type", "CUSIP", "x"])
    assert unknown_type.exit_code == 2 and "ID_CUSIP" in unknown_type.output
    nothing = CliRunner().invoke(app, ["figi", "map", "--no-cache"])
    assert nothing.exit_code == 2 and "--file" in nothing.output
