"""Identifier checks against the real and annotated vectors in shared/reference/identifiers."""

from __future__ import annotations

import csv
import random
import string
from pathlib import Path

import pytest
from stdnum import isin as std_isin

from ingestion.domain.identifiers import (
    Scheme,
    _isin_check_digit,
    detect_scheme,
    normalize,
    valid_canonical_isins,
    validate,
    validate_cfi,
    validate_currency,
    validate_isin,
    validate_mic,
)
from ingestion.domain.reasons import Reason


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_real_identifier_is_valid_and_detected_as_its_type(reference_dir: Path) -> None:
    rows = _rows(reference_dir / "identifiers" / "identifiers_real.csv")
    assert len(rows) == 683
    wrong = [
        (r["id_type"], r["identifier"])
        for r in rows
        if not validate(r["identifier"], Scheme(r["id_type"])).valid
        or detect_scheme(r["identifier"]) is not Scheme(r["id_type"])
        or not validate(r["identifier"]).valid
    ]
    assert wrong == []


def test_stdnum_doctest_vectors_stay_valid(reference_dir: Path) -> None:
    rows = _rows(reference_dir / "identifiers" / "stdnum_2.2_doctest_valid_vectors.csv")
    assert len(rows) == 804
    invalid = [r for r in rows if not validate(r["identifier"], Scheme(r["id_type"].upper())).valid]
    assert invalid == []


# Where the annotation says stdnum's verdict is wrong for our purpose, the expected verdict and
# the reason code we name it with.
_OVERRIDES = {
    "5493REALLYUNLIKELY77": (False, Reason.SAMPLE_VALUE),
    "000000000": (False, Reason.PLACEHOLDER),
    "999USDZ92": (False, Reason.CASH_PLACEHOLDER),
    "EZV1JDJ1R5Q9": (True, None),
    "KYG92C84SB37": (False, Reason.RESERVED_PREFIX),
    "GHG000BLNQ18": (False, Reason.RESERVED_PREFIX),
    "37833100": (False, Reason.LOST_LEADING_ZERO),
    "N/A": (False, Reason.NOT_AVAILABLE),
}


def test_invalid_and_edge_file_is_judged_as_annotated(reference_dir: Path) -> None:
    rows = _rows(reference_dir / "identifiers" / "identifiers_invalid_and_edge.csv")
    # SOURCE.md says 375 rows; the file holds 376 (356 derived + 20 real-world)
    assert len(rows) == 376
    mismatches = []
    for row in rows:
        verdict = validate(row["identifier"], Scheme(row["id_type"]))
        expected_valid, expected_reason = _OVERRIDES.get(
            row["identifier"], (row["expected_valid"] == "True", None)
        )
        if verdict.valid != expected_valid:
            mismatches.append((row["identifier"], verdict.valid, verdict.reason))
        if expected_reason is not None and verdict.reason is not expected_reason:
            mismatches.append((row["identifier"], verdict.reason, expected_reason))
        if not verdict.valid:
            assert verdict.reason is not None and verdict.detail
    assert mismatches == []
    derived = [r for r in rows if "(derived" in r["kind"]]
    assert len(derived) == 356


@pytest.mark.parametrize(
    ("value", "scheme", "reason"),
    [
        ("US0378331003", Scheme.ISIN, Reason.BAD_CHECK_DIGIT),
        ("QQ0378331003", Scheme.ISIN, Reason.UNKNOWN_COUNTRY),
        ("EZV1JDJ1R5Q8", Scheme.ISIN, Reason.BAD_CHECK_DIGIT),
        ("US037833100", Scheme.ISIN, Reason.BAD_LENGTH),
        ("1234567890", Scheme.LEI, Reason.BAD_LENGTH),
        ("", Scheme.CUSIP, Reason.EMPTY),
        ("-", Scheme.SEDOL, Reason.NOT_AVAILABLE),
    ],
)
def test_bad_values_say_why(value: str, scheme: Scheme, reason: Reason) -> None:
    verdict = validate(value, scheme)
    assert not verdict.valid
    assert verdict.reason is reason


def test_check_digit_error_names_the_expected_digit() -> None:
    verdict = validate("594918101", Scheme.CUSIP)
    assert verdict.reason is Reason.BAD_CHECK_DIGIT
    assert "should be 4" in (verdict.detail or "")


def test_lost_leading_zero_points_at_the_real_cusip() -> None:
    verdict = validate("37833100")
    assert verdict.scheme is Scheme.CUSIP
    assert "037833100" in (verdict.detail or "")


def test_ticker_like_value_has_no_type() -> None:
    assert detect_scheme("AAPL") is None
    assert validate("AAPL").reason is Reason.UNKNOWN_TYPE


def test_cfi_mic_and_currency_checks() -> None:
    assert validate_cfi("ESVUFR").valid and validate_cfi("DBFTFB").valid
    assert validate_cfi("XXXXXX").reason is Reason.UNKNOWN_CFI
    assert validate_mic("XEUR").valid and validate_mic("EBSF").valid
    assert "segment MIC of EBSN" in (validate_mic("EBSF").detail or "")
    assert validate_mic("ZZZZ").reason is Reason.UNKNOWN_MIC
    assert validate_currency("USD").valid
    assert validate_currency("HRK").valid and validate_currency("HRK").detail
    assert validate_currency("XYZ").reason is Reason.UNKNOWN_CURRENCY


def test_every_mic_of_the_iso_list_is_known(reference_dir: Path) -> None:
    rows = _rows(reference_dir / "mic" / "ISO10383_MIC_seed_2025.csv")
    unknown = [r["MIC"] for r in rows if not validate_mic(r["MIC"]).valid]
    assert len(rows) == 2767
    assert unknown == []


def test_hand_written_isin_check_digit_agrees_with_stdnum(reference_dir: Path) -> None:
    real = _rows(reference_dir / "identifiers" / "identifiers_real.csv")
    doctest = _rows(reference_dir / "identifiers" / "stdnum_2.2_doctest_valid_vectors.csv")
    isins = [r["identifier"] for r in real if r["id_type"] == "ISIN"]
    isins += [r["identifier"] for r in doctest if r["id_type"] == "isin"]
    assert len(isins) == 131 + 302
    for value in isins:
        body = normalize(value)[:-1]
        assert _isin_check_digit(body) == std_isin.calc_check_digit(body), value


def test_isins_checked_at_once_agree_with_validate_isin(reference_dir: Path) -> None:
    values = [
        row[column]
        for name in ("identifiers_real.csv", "identifiers_invalid_and_edge.csv")
        for row in _rows(reference_dir / "identifiers" / name)
        for column in row
        if row[column]
    ]
    rng = random.Random(7)
    alphabet = string.digits + string.ascii_uppercase
    for _ in range(5000):
        body = rng.choice(["DE", "US", "EZ", "XS", "GB", "QQ", "ZZ"]) + "".join(
            rng.choice(alphabet) for _ in range(9)
        )
        right = std_isin.calc_check_digit(body)
        values.append(body + (right if rng.random() < 0.7 else rng.choice(string.digits)))
    values += ["", " DE0005557508", "de0005557508", "DE000555750", "EZV1JDJ1R5Q9"]
    flags = valid_canonical_isins(values)
    # True exactly for the values validate_isin finds valid as written
    expected = [validate_isin(v).valid and validate_isin(v).normalized == v for v in values]
    assert flags == expected
    assert sum(flags) > 2000 and flags.count(False) > 1500


def test_isins_of_twelve_characters_each_are_checked_as_validate_isin_does() -> None:
    # a FIRDS piece: every value twelve characters, read without a step per value
    rng = random.Random(8)
    alphabet = string.digits + string.ascii_uppercase
    values = []
    for _ in range(5000):
        body = rng.choice(["DE", "US", "EZ", "XS", "QQ", "ZZ", "A1", "1A"]) + "".join(
            rng.choice(alphabet) for _ in range(9)
        )
        right = std_isin.calc_check_digit(body) if body[:2].isalpha() else "0"
        values.append(body + (right if rng.random() < 0.7 else rng.choice(alphabet)))
    values += ["de0005557508", "DE000555750 ", " DE000555750", "DE00055575-8", "DE0005557508"]
    assert {len(v) for v in values} == {12} and "".join(values).isascii()
    flags = valid_canonical_isins(values)
    expected = [validate_isin(v).valid and validate_isin(v).normalized == v for v in values]
    assert flags == expected
    assert sum(flags) > 1500 and flags.count(False) > 1500
    # a character beyond ASCII among them: the same verdicts, value by value
    assert valid_canonical_isins([*values, "DE000555750\u0668"]) == [*expected, False]
