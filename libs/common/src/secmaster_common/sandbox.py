"""Deterministic synthetic daily bars for sandbox mode, the demo and the emulators: a pure
function of (symbol, date) on NYSE sessions, clearly labelled as synthetic. One copy, so
the sandbox provider, the provider emulator and the tests always agree."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta

_EPOCH = date(2000, 1, 1).toordinal()

# One-off NYSE closures since 2000 (9/11, national days of mourning, Hurricane Sandy).
_SPECIAL_CLOSURES = frozenset(
    date.fromisoformat(d)
    for d in (
        "2001-09-11 2001-09-12 2001-09-13 2001-09-14 2004-06-11 2007-01-02 "
        "2012-10-29 2012-10-30 2018-12-05 2025-01-09"
    ).split()
)


@dataclass(frozen=True, slots=True)
class SyntheticDay:
    open: float
    high: float
    low: float
    close: float
    volume: int


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Meeus/Jones/Butcher algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    return date(year, month, (h + ell - 7 * m + 114) % 31 + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (0 = Monday) of a month; n = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """NYSE moves a Saturday holiday to Friday and a Sunday one to Monday."""
    return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


def is_trading_day(day: date) -> bool:
    """Whether the NYSE is open on `day` (NYSE Rule 7.2 holidays and special closures)."""
    if day.weekday() >= 5 or day in _SPECIAL_CLOSURES:
        return False
    year = day.year
    holidays = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    if year >= 2022:
        holidays.add(_observed(date(year, 6, 19)))  # Juneteenth
    # New Year's Day on a Saturday is not made up on the Friday before (NYSE rule).
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:
        holidays.add(_observed(new_year))
    return day not in holidays


def _unit(symbol: str, tag: str, ordinal: int) -> float:
    """A uniform number in [0, 1) fixed by its inputs (blake2b, not Python's salted hash)."""
    digest = hashlib.blake2b(f"{symbol}|{tag}|{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _close(symbol: str, ordinal: int) -> float:
    # A drifting level plus three slow cycles plus daily noise: daily moves of about
    # 1-2 %, multi-year trends, never negative (it is an exponential).
    base = 20.0 + 480.0 * _unit(symbol, "base", 0)
    drift = -0.0001 + 0.0004 * _unit(symbol, "drift", 0)
    t = ordinal - _EPOCH
    cycles = 0.0
    for k, (amplitude, period) in enumerate(((0.30, 1100.0), (0.10, 180.0), (0.04, 37.0))):
        phase = 2 * math.pi * _unit(symbol, "phase", k)
        cycles += amplitude * math.sin(2 * math.pi * t / period + phase)
    noise = 0.024 * (_unit(symbol, "noise", ordinal) - 0.5)
    return base * math.exp(drift * t + cycles + noise)


def synthetic_day(symbol: str, day: date) -> SyntheticDay | None:
    """The synthetic bar of `symbol` on `day`, or None when the NYSE is closed."""
    if not is_trading_day(day):
        return None
    symbol = symbol.upper()
    ordinal = day.toordinal()
    previous = ordinal - 1
    while not is_trading_day(date.fromordinal(previous)):
        previous -= 1
    close = round(_close(symbol, ordinal), 2)
    open_ = round(_close(symbol, previous) * (1 + 0.012 * (_unit(symbol, "gap", ordinal) - 0.5)), 2)
    high = round(max(open_, close) * (1 + 0.012 * _unit(symbol, "high", ordinal)), 2)
    low = round(min(open_, close) * (1 - 0.012 * _unit(symbol, "low", ordinal)), 2)
    volume_base = 200_000 + 20_000_000 * _unit(symbol, "volume", 0)
    volume = int(volume_base * (0.5 + _unit(symbol, "volume", ordinal)))
    return SyntheticDay(open=open_, high=high, low=low, close=close, volume=volume)
