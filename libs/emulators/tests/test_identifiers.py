"""The emulator's check-digit rules agree with real identifiers and reject altered ones,
so it answers `error` exactly where OpenFIGI does."""

from __future__ import annotations

import csv
from pathlib import Path

from secmaster_emulators.openfigi import is_valid_id_value

ID_TYPES = {"CUSIP": "ID_CUSIP", "ISIN": "ID_ISIN", "SEDOL": "ID_SEDOL", "FIGI": "ID_BB_GLOBAL"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_real_identifiers_pass(reference_dir: Path) -> None:
    rows = [
        r
        for r in _rows(reference_dir / "identifiers" / "identifiers_real.csv")
        if r["id_type"] in ID_TYPES and r["stdnum_valid"] == "True"
    ]
    assert len(rows) > 400
    rejected = [
        r["identifier"]
        for r in rows
        if not is_valid_id_value(ID_TYPES[r["id_type"]], r["identifier"])
    ]
    assert rejected == []


def test_altered_check_digits_fail(reference_dir: Path) -> None:
    rows = [
        r
        for r in _rows(reference_dir / "identifiers" / "identifiers_invalid_and_edge.csv")
        if r["id_type"] in ID_TYPES and r["kind"].startswith("check digit altered")
    ]
    assert len(rows) > 200
    accepted = [
        r["identifier"] for r in rows if is_valid_id_value(ID_TYPES[r["id_type"]], r["identifier"])
    ]
    assert accepted == []


def test_spec_probes_for_cusip() -> None:
    # specs/openfigi.md section 1, probed 2026-08-06.
    assert is_valid_id_value("ID_CUSIP", "037833100")
    assert is_valid_id_value("ID_CUSIP", "000000000")
    for bad in ("ZZZZZZZZZ", "ABC", "03783310", "0378331001", ""):
        assert not is_valid_id_value("ID_CUSIP", bad), bad
