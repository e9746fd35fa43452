"""Deterministic synthetic daily bars: a pure function of (symbol, date), clearly labelled
as synthetic. The provider emulator (secmaster_emulators.providers.synthetic) carries a
byte-for-byte copy of this algorithm so that sandbox mode and the emulator agree; the
pricing unit tests check that they do."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date

_EPOCH = date(2000, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class SyntheticDay:
    open: float
    high: float
    low: float
    close: float
    volume: int


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
    """The synthetic bar of `symbol` on `day`, or None on Saturdays and Sundays."""
    if day.weekday() >= 5:
        return None
    symbol = symbol.upper()
    ordinal = day.toordinal()
    previous = ordinal - (3 if day.weekday() == 0 else 1)
    close = round(_close(symbol, ordinal), 2)
    open_ = round(_close(symbol, previous) * (1 + 0.012 * (_unit(symbol, "gap", ordinal) - 0.5)), 2)
    high = round(max(open_, close) * (1 + 0.012 * _unit(symbol, "high", ordinal)), 2)
    low = round(min(open_, close) * (1 - 0.012 * _unit(symbol, "low", ordinal)), 2)
    volume_base = 200_000 + 20_000_000 * _unit(symbol, "volume", 0)
    volume = int(volume_base * (0.5 + _unit(symbol, "volume", ordinal)))
    return SyntheticDay(open=open_, high=high, low=low, close=close, volume=volume)
