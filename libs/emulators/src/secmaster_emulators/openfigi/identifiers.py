"""Identifier format and check-digit rules the emulator applies before looking a value up.

OpenFIGI validates check digits: CUSIP `ZZZZZZZZZ` (bad check digit) answers
`error: Invalid idValue format.` while `000000000` (valid) answers a `warning`
(specs/openfigi.md section 1, probed 2026-08-06).
"""

from __future__ import annotations

import re

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CUSIP_RE = re.compile(r"^[0-9A-Z*@#]{8}[0-9]$")
_ISIN_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$")
_SEDOL_RE = re.compile(r"^[0-9BCDFGHJKLMNPQRSTVWXYZ]{6}[0-9]$")
# X9.145 regex (specs/openfigi.md section 6), with its 5 excluded prefixes.
_FIGI_RE = re.compile(
    r"^(?!BS|BM|GG|GB|VG)[BCDFGHJKLMNPQRSTVWXYZ]{2}G[0-9BCDFGHJKLMNPQRSTVWXYZ]{8}[0-9]$"
)

_FIGI_ID_TYPES = frozenset(
    {"ID_BB_GLOBAL", "COMPOSITE_ID_BB_GLOBAL", "ID_BB_GLOBAL_SHARE_CLASS_LEVEL"}
)


def cusip_check_digit(first8: str) -> str:
    """CUSIP mod-10 "double-add-double" over the first 8 characters."""
    total = 0
    for i, ch in enumerate(first8):
        if ch.isdigit():
            v = int(ch)
        elif ch.isalpha():
            v = _ALNUM.index(ch)
        else:
            v = {"*": 36, "@": 37, "#": 38}[ch]
        if i % 2 == 1:
            v *= 2
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10)


def isin_check_digit(first11: str) -> str:
    """ISIN Luhn over the letters expanded to two digits (A=10 ... Z=35)."""
    digits = "".join(str(_ALNUM.index(ch)) for ch in first11)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10)


def sedol_check_digit(first6: str) -> str:
    weights = (1, 3, 1, 7, 3, 9)
    total = sum(_ALNUM.index(ch) * w for ch, w in zip(first6, weights, strict=True))
    return str((10 - total % 10) % 10)


def figi_check_digit(first11: str) -> str:
    """FIGI check digit (specs/openfigi.md section 6): double every even 1-based position."""
    text = "".join(str(_ALNUM.index(c) * (2 if i % 2 else 1)) for i, c in enumerate(first11))
    return str((10 - sum(int(d) for d in text)) % 10)


def is_valid_id_value(id_type: str, id_value: str) -> bool:
    """False when OpenFIGI would answer `Invalid idValue format.` for this value."""
    if not id_value.strip():
        return False
    if id_type in ("ID_CUSIP", "ID_CINS"):
        return bool(_CUSIP_RE.match(id_value)) and cusip_check_digit(id_value[:8]) == id_value[8]
    if id_type == "ID_CUSIP_8_CHR":
        return len(id_value) == 8 and id_value.isalnum()
    if id_type == "ID_ISIN":
        return bool(_ISIN_RE.match(id_value)) and isin_check_digit(id_value[:11]) == id_value[11]
    if id_type == "ID_SEDOL":
        return bool(_SEDOL_RE.match(id_value)) and sedol_check_digit(id_value[:6]) == id_value[6]
    if id_type in _FIGI_ID_TYPES:
        return bool(_FIGI_RE.match(id_value)) and figi_check_digit(id_value[:11]) == id_value[11]
    return True
