"""Recognise an identifier's OpenFIGI idType from its shape and check digit (ISIN, CUSIP,
FIGI, SEDOL), so a user can paste a mixed list; anything else is taken as a TICKER."""

from __future__ import annotations

import re

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ISIN_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$")
_CUSIP_RE = re.compile(r"^[0-9A-Z*@#]{8}[0-9]$")
_SEDOL_RE = re.compile(r"^[0-9BCDFGHJKLMNPQRSTVWXYZ]{6}[0-9]$")
# ANSI X9.145 (specs/openfigi.md section 6), with its 5 excluded prefixes.
_FIGI_RE = re.compile(
    r"^(?!BS|BM|GG|GB|VG)[BCDFGHJKLMNPQRSTVWXYZ]{2}G[0-9BCDFGHJKLMNPQRSTVWXYZ]{8}[0-9]$"
)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10)


def is_isin(value: str) -> bool:
    if not _ISIN_RE.match(value):
        return False
    return _luhn_digit("".join(str(_ALNUM.index(c)) for c in value[:11])) == value[11]


def is_cusip(value: str) -> bool:
    if not _CUSIP_RE.match(value):
        return False
    total = 0
    for i, ch in enumerate(value[:8]):
        v = _ALNUM.index(ch) if ch in _ALNUM else {"*": 36, "@": 37, "#": 38}[ch]
        v *= 2 if i % 2 else 1
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10) == value[8]


def is_sedol(value: str) -> bool:
    if not _SEDOL_RE.match(value):
        return False
    total = sum(_ALNUM.index(c) * w for c, w in zip(value[:6], (1, 3, 1, 7, 3, 9), strict=True))
    return str((10 - total % 10) % 10) == value[6]


def is_figi(value: str) -> bool:
    if not _FIGI_RE.match(value):
        return False
    text = "".join(str(_ALNUM.index(c) * (2 if i % 2 else 1)) for i, c in enumerate(value[:11]))
    return str((10 - sum(int(d) for d in text)) % 10) == value[11]


def guess_id_type(value: str) -> str:
    """ID_ISIN, ID_BB_GLOBAL, ID_CUSIP or ID_SEDOL when the value has that shape and a valid
    check digit, else TICKER."""
    text = value.strip().upper()
    if is_isin(text):
        return "ID_ISIN"
    if is_figi(text):
        return "ID_BB_GLOBAL"
    if is_cusip(text):
        return "ID_CUSIP"
    if is_sedol(text):
        return "ID_SEDOL"
    return "TICKER"
