"""Shares outstanding as the level engine needs them, from fundamentals observations
that report shares outstanding, a market capitalisation, or both."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np

from indexer.domain.panel import Panel, Record

__all__ = ["FundamentalsObservation", "shares_outstanding_records"]


@dataclass(frozen=True)
class FundamentalsObservation:
    as_of: date
    symbol: str
    shares_outstanding: float | None
    market_cap: float | None


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0.0


def shares_outstanding_records(
    observations: Iterable[FundamentalsObservation], closes: Panel
) -> list[Record]:
    """(as_of, symbol, shares outstanding) per observation. Reported shares win; a market
    cap alone is turned into shares with the symbol's close in force on `as_of` (the last
    close on or before it), since market cap = shares x price on that day. Observations
    with neither, or a market cap before the symbol's first close, give no row."""
    out: list[Record] = []
    column_of = {s: k for k, s in enumerate(closes.symbols)}
    for obs in observations:
        if _usable(obs.shares_outstanding):
            assert obs.shares_outstanding is not None
            out.append((obs.as_of, obs.symbol, float(obs.shares_outstanding)))
            continue
        col = column_of.get(obs.symbol)
        if not _usable(obs.market_cap) or col is None:
            continue
        assert obs.market_cap is not None
        column = closes.values[:, col]
        last = int(np.searchsorted(closes.dates, np.datetime64(obs.as_of, "D"), side="right"))
        priced = np.flatnonzero(~np.isnan(column[:last]))
        if priced.size:
            out.append((obs.as_of, obs.symbol, float(obs.market_cap) / float(column[priced[-1]])))
    return out
