"""Security and entity identifier checks (ISIN, CUSIP, SEDOL, LEI, FIGI, CFI, MIC, ISO 4217).

python-stdnum does the check-digit arithmetic where it is right; this module adds what it lacks
(EZ ISINs, the FIGI prefixes it accepts, MIC and currency registries) and names known dirty data.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache, lru_cache
from typing import NamedTuple

import numpy as np
from stdnum import cfi as std_cfi
from stdnum import cusip as std_cusip
from stdnum import figi as std_figi
from stdnum import isin as std_isin
from stdnum import lei as std_lei
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.gb import sedol as std_sedol

from ingestion.domain.reasons import Reason
from ingestion.domain.registries import currency_codes, market_identifiers


class Scheme(StrEnum):
    ISIN = "ISIN"
    CUSIP = "CUSIP"
    SEDOL = "SEDOL"
    LEI = "LEI"
    FIGI = "FIGI"
    CFI = "CFI"
    MIC = "MIC"
    CURRENCY = "CURRENCY"


# The schemes `detect_scheme` chooses among: identifiers of a security or an entity.
IDENTIFIER_SCHEMES = (Scheme.ISIN, Scheme.CUSIP, Scheme.SEDOL, Scheme.LEI, Scheme.FIGI)

# Literal "no value" markers real filers put in identifier fields (N-PORT writes `N/A` for an
# issuer without an LEI: 97 holdings of the Goldman Sachs Bond Fund filing of 2023-03-31).
NOT_AVAILABLE_MARKERS = frozenset({"N/A", "NA", "N.A.", "NONE", "NULL", "-", "--", "#N/A"})

# CUSIP `000000000` passes the mod-10 check but is the placeholder N-PORT filers use for
# positions without a CUSIP (795 of 1,685 holdings in the Goldman Sachs Bond Fund filing).
PLACEHOLDER_CUSIPS = frozenset({"000000000"})

# SSGA's SPDR holdings files give their cash line the identifier 999USDZ92 (name "US DOLLAR"):
# check digit right, but not a security.
CASH_PLACEHOLDER_CUSIPS = frozenset({"999USDZ92"})

# LEIs from the SEC's synthetic N-PORT samples that pass ISO 7064 MOD 97-10 anyway.
SAMPLE_LEIS = frozenset({"5493REALLYUNLIKELY77"})

# The OMG FIGI standard forbids these first two characters (they are ISIN country prefixes);
# python-stdnum 2.2 rejects only BS, BM, GG, GB and VG, so it accepts KYG92C84SB37.
RESERVED_FIGI_PREFIXES = frozenset({"BS", "BM", "GG", "GB", "GH", "KY", "VG"})

# ANNA's Derivatives Service Bureau issues OTC-derivative ISINs under the prefix EZ, which is
# no ISO 3166 country, so python-stdnum's country list rejects every one of them.
OTC_DERIVATIVE_ISIN_PREFIX = "EZ"

_ISIN_SHAPE = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
_FIGI_SHAPE = re.compile(r"[B-DF-HJ-NP-TV-Z]{2}G[0-9B-DF-HJ-NP-TV-Z]{8}[0-9]")
_CUSIP_SHAPE = re.compile(r"[A-Z0-9*@#]{8}[0-9]")
_SEDOL_SHAPE = re.compile(r"[0-9B-DF-HJ-NP-TV-Z]{6}[0-9]")
_LEI_SHAPE = re.compile(r"[A-Z0-9]{18}[0-9]{2}")
_MIC_SHAPE = re.compile(r"[A-Z0-9]{4}")
_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")


class Verdict(NamedTuple):
    """The judgement on one value: usable or not, and if not, why (a `Reason` plus prose).
    A named tuple: a FIRDS file asks for a million of them, and a frozen dataclass costs
    four times as much to make."""

    value: str
    scheme: Scheme | None
    valid: bool
    normalized: str | None = None
    reason: Reason | None = None
    detail: str | None = None


def normalize(value: str) -> str:
    """Upper-case and drop whitespace, the form every check works on."""
    return "".join(value.split()).upper()


def is_not_available(value: str) -> bool:
    return normalize(value) in NOT_AVAILABLE_MARKERS


def _ok(value: str, scheme: Scheme, number: str, detail: str | None = None) -> Verdict:
    return Verdict(value, scheme, True, number, None, detail)


def _bad(value: str, scheme: Scheme | None, reason: Reason, detail: str) -> Verdict:
    return Verdict(value, scheme, False, None, reason, detail)


def _blank_or_marker(value: str, scheme: Scheme | None) -> Verdict | None:
    number = normalize(value)
    if not number:
        return _bad(value, scheme, Reason.EMPTY, "no value")
    if number in NOT_AVAILABLE_MARKERS:
        return _bad(value, scheme, Reason.NOT_AVAILABLE, f"{value.strip()!r} marks a missing value")
    return None


def _from_stdnum(
    value: str, scheme: Scheme, number: str, check: Callable[[str], str], expected: str | None
) -> Verdict:
    """Run a python-stdnum `validate` and translate its exception into a reason code."""
    try:
        return _ok(value, scheme, check(number))
    except InvalidLength:
        return _bad(value, scheme, Reason.BAD_LENGTH, f"{scheme} has the wrong length")
    except InvalidChecksum:
        hint = f" (the check digit should be {expected})" if expected else ""
        return _bad(value, scheme, Reason.BAD_CHECK_DIGIT, f"{scheme} check digit is wrong{hint}")
    except InvalidComponent:
        return _bad(value, scheme, Reason.BAD_FORMAT, f"{scheme} has an invalid component")
    except (InvalidFormat, ValidationError):
        return _bad(value, scheme, Reason.BAD_FORMAT, f"{scheme} has characters out of place")


def _safe_check_digit(calc: Callable[[str], str], body: str) -> str | None:
    try:
        return calc(body)
    except (ValueError, KeyError):
        return None


def validate_isin(value: str) -> Verdict:
    """ISIN (ISO 6166), accepting ANNA-DSB `EZ` ISINs that python-stdnum's country list rejects."""
    if _ISIN_SHAPE.fullmatch(value):
        number = value  # already the form every check works on (most ISINs of a file)
    else:
        if (early := _blank_or_marker(value, Scheme.ISIN)) is not None:
            return early
        number = normalize(value)
        if len(number) != 12:
            return _bad(
                value, Scheme.ISIN, Reason.BAD_LENGTH, f"ISIN has {len(number)} characters, not 12"
            )
        if not _ISIN_SHAPE.fullmatch(number):
            return _bad(
                value,
                Scheme.ISIN,
                Reason.BAD_FORMAT,
                "ISIN must be 2 letters, 9 letters or digits and a check digit",
            )
    if number.startswith(OTC_DERIVATIVE_ISIN_PREFIX):
        expected = std_isin.calc_check_digit(number[:-1])
        if expected != number[-1]:
            return _bad(
                value,
                Scheme.ISIN,
                Reason.BAD_CHECK_DIGIT,
                f"ISIN check digit is wrong (the check digit should be {expected})",
            )
        return _ok(value, Scheme.ISIN, number, "OTC derivative ISIN (ANNA-DSB prefix EZ)")
    expected = _isin_check_digit(number[:-1])
    if expected != number[-1]:
        detail = f"ISIN check digit is wrong (the check digit should be {expected})"
        return _bad(value, Scheme.ISIN, Reason.BAD_CHECK_DIGIT, detail)
    if not _isin_prefix_known(number[:2]):
        return _bad(
            value,
            Scheme.ISIN,
            Reason.UNKNOWN_COUNTRY,
            f"ISIN prefix {number[:2]} is no ISO 3166 country nor a known ISIN issuer prefix",
        )
    return _ok(value, Scheme.ISIN, number)


# Letters as their ISO 6166 values (A=10 ... Z=35), and each digit d as the digit sum of 2d.
_ISIN_VALUES = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})
_DOUBLED_DIGIT_SUM = str.maketrans("0123456789", "0246813579")


def _isin_check_digit(body: str) -> str:
    """ISO 6166 check digit (Luhn over the letter-expanded digits), written out because
    python-stdnum's version costs about 45 us per ISIN, the dearest step of a FIRDS record;
    tests hold it equal to stdnum's on every real and doctest ISIN."""
    digits = body.translate(_ISIN_VALUES)[::-1]
    doubled = digits[0::2].translate(_DOUBLED_DIGIT_SUM)
    # the digits' values summed as bytes, less the code of "0" for each
    total = sum((doubled + digits[1::2]).encode()) - 48 * len(digits)
    return _DIGITS[-total % 10]


_DIGITS = "0123456789"


# Each ISIN character's ISO 6166 value (digits 0-9, letters 10-35), and each digit doubled
# with its digits summed, as numpy lookup tables.
_CHAR_VALUE = np.zeros(256, dtype=np.int64)
_CHAR_VALUE[ord("0") : ord("9") + 1] = np.arange(10)
_CHAR_VALUE[ord("A") : ord("Z") + 1] = np.arange(10, 36)
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def valid_canonical_isins(values: Sequence[str]) -> list[bool]:
    """For each value, whether it is an ISIN written in canonical form that validate_isin
    finds valid; False for any other value, which validate_isin must then judge (it may
    still be valid once normalised). The values are checked all at once with numpy, about a
    tenth of the cost of `_isin_check_digit` per ISIN, for the million ISINs of a FIRDS file;
    when every value is twelve ASCII characters (a FIRDS piece), without a step per value."""
    verdicts = [False] * len(values)
    rows: Sequence[int] | None = None  # which values `codes` holds (None: all of them)
    joined = "".join(values)
    if set(map(len, values)) == {12} and joined.isascii():
        codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(values), 12)
    else:
        rows = [i for i, value in enumerate(values) if _ISIN_SHAPE.fullmatch(value)]
        if not rows:
            return verdicts
        joined = "".join(values[i] for i in rows)
        codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(rows), 12)
    valid = _canonical_isin_rows(codes)
    if rows is None:
        every: list[bool] = valid.tolist()
        return every
    for index, ok in zip(rows, valid.tolist(), strict=True):
        verdicts[index] = ok
    return verdicts


def _canonical_isin_rows(codes: np.ndarray) -> np.ndarray:
    """Each row of twelve character codes: an ISIN in canonical form with a right check
    digit and a prefix validate_isin accepts."""
    shaped = (
        _IS_LETTER[codes[:, :2]].all(axis=1)
        & _IS_UPPER_ALNUM[codes[:, 2:11]].all(axis=1)
        & _IS_DIGIT[codes[:, 11]]
    )
    digits = _CHAR_VALUE[codes[:, :11]]
    # Luhn from the right over the letter-expanded body: its last digit is doubled; a
    # letter is two digits (tens, units), which leaves the doubling where it was.
    total = np.zeros(len(codes), dtype=np.int64)
    doubled = np.ones(len(codes), dtype=bool)
    for column in range(10, -1, -1):
        value = digits[:, column]
        pair = value >= 10
        units, tens = value % 10, value // 10
        total += np.where(doubled, _DOUBLED[units], units)
        total += np.where(pair, np.where(doubled, tens, _DOUBLED[tens]), 0)
        doubled ^= ~pair
    right = ((-total) % 10) == (codes[:, 11].astype(np.int64) - ord("0"))
    letters = np.clip(codes[:, :2].astype(np.int64) - ord("A"), 0, 25)
    known = _known_isin_prefixes()[letters[:, 0] * 26 + letters[:, 1]]
    valid: np.ndarray = shaped & right & known
    return valid


_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[ord("0") : ord("9") + 1] = True
_IS_LETTER = np.zeros(256, dtype=bool)
_IS_LETTER[ord("A") : ord("Z") + 1] = True
_IS_UPPER_ALNUM = _IS_DIGIT | _IS_LETTER


@cache
def _known_isin_prefixes() -> np.ndarray:
    """Whether validate_isin accepts each two-letter prefix, indexed by 26 * first + second
    (A = 0): python-stdnum's country list, and the OTC-derivative prefix."""
    return np.array(
        [
            prefix == OTC_DERIVATIVE_ISIN_PREFIX or _isin_prefix_known(prefix)
            for prefix in (a + b for a in string.ascii_uppercase for b in string.ascii_uppercase)
        ],
        dtype=bool,
    )


@lru_cache(maxsize=512)
def _isin_prefix_known(prefix: str) -> bool:
    """Whether python-stdnum's ISIN country list holds the prefix, asked through its public API
    with a made-up ISIN of that prefix and a right check digit."""
    body = prefix + "000000000"
    return std_isin.is_valid(body + _isin_check_digit(body))


def validate_cusip(value: str) -> Verdict:
    """CUSIP; names the all-zero placeholder, SSGA's cash line, CUSIPs that lost leading zeros."""
    if (early := _blank_or_marker(value, Scheme.CUSIP)) is not None:
        return early
    number = normalize(value)
    if number in PLACEHOLDER_CUSIPS:
        return _bad(
            value, Scheme.CUSIP, Reason.PLACEHOLDER, f"{number} is a placeholder, not a security"
        )
    if number in CASH_PLACEHOLDER_CUSIPS:
        return _bad(
            value,
            Scheme.CUSIP,
            Reason.CASH_PLACEHOLDER,
            f"{number} is a fund's cash line identifier, not a security",
        )
    if number.isdigit() and 6 <= len(number) < 9:
        padded = number.zfill(9)
        if std_cusip.is_valid(padded):
            return _bad(
                value,
                Scheme.CUSIP,
                Reason.LOST_LEADING_ZERO,
                f"{len(number)} digits; {padded} is valid: leading zeros were probably lost "
                "when the column was read as a number",
            )
    expected = (
        _safe_check_digit(std_cusip.calc_check_digit, number[:8]) if len(number) == 9 else None
    )
    return _from_stdnum(value, Scheme.CUSIP, number, std_cusip.validate, expected)


def validate_sedol(value: str) -> Verdict:
    """SEDOL (London Stock Exchange), including a numeric SEDOL that lost its leading zeros."""
    if (early := _blank_or_marker(value, Scheme.SEDOL)) is not None:
        return early
    number = normalize(value)
    if number.isdigit() and 4 <= len(number) < 7 and std_sedol.is_valid(number.zfill(7)):
        return _bad(
            value,
            Scheme.SEDOL,
            Reason.LOST_LEADING_ZERO,
            f"{len(number)} digits; {number.zfill(7)} is valid: leading zeros were probably lost",
        )
    expected = (
        _safe_check_digit(std_sedol.calc_check_digit, number[:6]) if len(number) == 7 else None
    )
    return _from_stdnum(value, Scheme.SEDOL, number, std_sedol.validate, expected)


def validate_lei(value: str) -> Verdict:
    """LEI (ISO 17442, MOD 97-10); names the SEC samples' checksum-valid fake LEIs."""
    if (early := _blank_or_marker(value, Scheme.LEI)) is not None:
        return early
    number = normalize(value)
    if number in SAMPLE_LEIS:
        return _bad(
            value,
            Scheme.LEI,
            Reason.SAMPLE_VALUE,
            f"{number} passes MOD 97-10 but is a made-up LEI from the SEC's sample filings",
        )
    if len(number) != 20:
        return _bad(
            value, Scheme.LEI, Reason.BAD_LENGTH, f"LEI has {len(number)} characters, not 20"
        )
    return _from_stdnum(value, Scheme.LEI, number, std_lei.validate, None)


def validate_figi(value: str) -> Verdict:
    """FIGI; enforces every prefix the OMG standard reserves (stdnum misses GH and KY)."""
    if (early := _blank_or_marker(value, Scheme.FIGI)) is not None:
        return early
    number = normalize(value)
    if len(number) == 12 and number[:2] in RESERVED_FIGI_PREFIXES:
        return _bad(
            value,
            Scheme.FIGI,
            Reason.RESERVED_PREFIX,
            f"FIGI prefix {number[:2]} is reserved by the OMG FIGI standard",
        )
    expected = (
        _safe_check_digit(std_figi.calc_check_digit, number[:11]) if len(number) == 12 else None
    )
    return _from_stdnum(value, Scheme.FIGI, number, std_figi.validate, expected)


def validate_cfi(value: str) -> Verdict:
    """CFI (ISO 10962) against python-stdnum's table of categories, groups and attributes."""
    if (early := _blank_or_marker(value, Scheme.CFI)) is not None:
        return early
    number = normalize(value)
    try:
        return _ok(value, Scheme.CFI, std_cfi.validate(number))
    except InvalidComponent:
        return _bad(
            value, Scheme.CFI, Reason.UNKNOWN_CFI, f"{number} is not in the ISO 10962 table"
        )
    except ValidationError:
        return _bad(value, Scheme.CFI, Reason.BAD_FORMAT, "CFI must be 6 letters")


def validate_mic(value: str) -> Verdict:
    """MIC (ISO 10383): no check digit exists, so the registry is the only test."""
    if (early := _blank_or_marker(value, Scheme.MIC)) is not None:
        return early
    number = normalize(value)
    if not _MIC_SHAPE.fullmatch(number):
        return _bad(value, Scheme.MIC, Reason.BAD_FORMAT, "MIC must be 4 letters or digits")
    entry = market_identifiers().get(number)
    if entry is None:
        return _bad(value, Scheme.MIC, Reason.UNKNOWN_MIC, f"{number} is not in the ISO 10383 list")
    detail = f"{entry.kind.name.lower()} MIC of {entry.operating_mic}"
    if entry.expired:
        detail += "; expired in ISO 10383"
    return _ok(value, Scheme.MIC, number, detail)


def validate_currency(value: str) -> Verdict:
    """ISO 4217 alphabetic code; withdrawn codes (e.g. HRK) stay valid for historical records."""
    if (early := _blank_or_marker(value, Scheme.CURRENCY)) is not None:
        return early
    number = normalize(value)
    if not _CURRENCY_SHAPE.fullmatch(number):
        return _bad(value, Scheme.CURRENCY, Reason.BAD_FORMAT, "currency must be 3 letters")
    active = currency_codes().get(number)
    if active is None:
        return _bad(
            value, Scheme.CURRENCY, Reason.UNKNOWN_CURRENCY, f"{number} is not an ISO 4217 code"
        )
    return _ok(value, Scheme.CURRENCY, number, None if active else "withdrawn ISO 4217 code")


_VALIDATORS: dict[Scheme, Callable[[str], Verdict]] = {
    Scheme.ISIN: validate_isin,
    Scheme.CUSIP: validate_cusip,
    Scheme.SEDOL: validate_sedol,
    Scheme.LEI: validate_lei,
    Scheme.FIGI: validate_figi,
    Scheme.CFI: validate_cfi,
    Scheme.MIC: validate_mic,
    Scheme.CURRENCY: validate_currency,
}


def detect_scheme(value: str) -> Scheme | None:
    """Which identifier scheme a value is shaped like (ISIN, CUSIP, SEDOL, LEI, FIGI), if any.

    ISINs and FIGIs are both 12 characters: a FIGI-shaped value whose FIGI check digit holds is a
    FIGI, then one whose ISIN check digit holds is an ISIN, then the shape decides.
    """
    number = normalize(value)
    if not number or number in NOT_AVAILABLE_MARKERS:
        return None
    length = len(number)
    if length == 12:
        figi_shaped = bool(_FIGI_SHAPE.fullmatch(number))
        if figi_shaped and validate_figi(number).valid:
            return Scheme.FIGI
        if _ISIN_SHAPE.fullmatch(number):
            if validate_isin(number).valid or not figi_shaped:
                return Scheme.ISIN
        return Scheme.FIGI if figi_shaped else None
    if length == 20 and _LEI_SHAPE.fullmatch(number):
        return Scheme.LEI
    if length == 9 and _CUSIP_SHAPE.fullmatch(number):
        return Scheme.CUSIP
    if length == 7 and _SEDOL_SHAPE.fullmatch(number):
        return Scheme.SEDOL
    if length == 8 and number.isdigit():
        return Scheme.CUSIP  # a CUSIP that lost its leading zero; validate_cusip names it
    return None


def validate(value: str, scheme: Scheme | None = None) -> Verdict:
    """Judge `value` as `scheme`, or as the scheme it is shaped like when none is given."""
    if scheme is None:
        if (early := _blank_or_marker(value, None)) is not None:
            return early
        scheme = detect_scheme(value)
        if scheme is None:
            return _bad(
                value,
                None,
                Reason.UNKNOWN_TYPE,
                "not shaped like an ISIN, CUSIP, SEDOL, LEI or FIGI",
            )
    return _VALIDATORS[scheme](value)
