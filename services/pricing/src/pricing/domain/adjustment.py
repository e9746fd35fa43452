"""Split and dividend adjustment of raw daily bars, with factor rows laid out the way
QuantConnect Lean's factor files are, so the two can be compared date by date.

Lean factor file row: `yyyyMMdd, price_factor, split_factor, reference_price`, where the
row date is the last session before an ex-date, both factors are cumulative backwards
from today and apply to every date up to the row date (Lean FactorFile.GetPriceScaleFactor
takes the first row dated on or after the date asked), and reference_price is the raw
close on the row date. A dividend D with previous close C multiplies earlier prices by
1 - D/C; a split of r new shares per old share multiplies them by 1/r.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from pricing.domain.bars import ActionType, CorporateAction, PriceBar


@dataclass(frozen=True, slots=True)
class FactorRow:
    last_date: date
    price_factor: float
    split_factor: float
    reference_price: float


@dataclass(frozen=True, slots=True)
class AdjustedSeries:
    """One series three ways: as traded, split-adjusted, and split+dividend adjusted
    (each adjusted bar also carries the fully adjusted close as `adj_close`)."""

    raw: tuple[PriceBar, ...]
    split_adjusted: tuple[PriceBar, ...]
    fully_adjusted: tuple[PriceBar, ...]
    factors: tuple[FactorRow, ...]

    def factor_on(self, day: date) -> tuple[float, float]:
        return factor_on(self.factors, day)


def factor_rows(bars: Sequence[PriceBar], actions: Sequence[CorporateAction]) -> list[FactorRow]:
    """Cumulative factor rows, oldest first, from raw daily bars and their actions.

    Dividend amounts must be in the same price basis as `bars` (raw amounts with raw
    bars). Actions with no earlier bar to anchor them are ignored.
    """
    ordered = sorted(bars, key=lambda b: b.trading_date)
    dates = [b.trading_date for b in ordered]
    by_ex_date: dict[date, list[CorporateAction]] = {}
    for action in actions:
        by_ex_date.setdefault(action.ex_date, []).append(action)
    price, split = 1.0, 1.0
    rows: list[FactorRow] = []
    for ex_date in sorted(by_ex_date, reverse=True):
        i = bisect.bisect_left(dates, ex_date) - 1
        if i < 0:
            continue
        previous = ordered[i]
        for action in by_ex_date[ex_date]:
            if action.type is ActionType.SPLIT and action.ratio:
                split /= action.ratio
            elif action.type is ActionType.DIVIDEND and action.amount:
                price *= 1.0 - action.amount / previous.close
        rows.append(FactorRow(previous.trading_date, price, split, previous.close))
    rows.reverse()
    return rows


def factor_on(rows: Sequence[FactorRow], day: date) -> tuple[float, float]:
    """(price_factor, split_factor) that applies to `day`: the first row dated on or after it."""
    i = bisect.bisect_left([r.last_date for r in rows], day)
    if i >= len(rows):
        return 1.0, 1.0
    return rows[i].price_factor, rows[i].split_factor


def adjust(bars: Sequence[PriceBar], actions: Sequence[CorporateAction]) -> AdjustedSeries:
    """Raw, split-adjusted and fully adjusted versions of raw daily `bars`."""
    raw = tuple(sorted(bars, key=lambda b: b.trading_date))
    rows = factor_rows(raw, actions)
    split_adj: list[PriceBar] = []
    full_adj: list[PriceBar] = []
    for bar in raw:
        price_factor, split_factor = factor_on(rows, bar.trading_date)
        full_close = bar.close * price_factor * split_factor
        split_adj.append(_scaled(bar, split_factor, split_factor, full_close))
        full_adj.append(_scaled(bar, price_factor * split_factor, split_factor, full_close))
    return AdjustedSeries(
        raw=raw,
        split_adjusted=tuple(split_adj),
        fully_adjusted=tuple(full_adj),
        factors=tuple(rows),
    )


def _scaled(bar: PriceBar, price_scale: float, split_factor: float, adj_close: float) -> PriceBar:
    # Volume moves opposite to price on a split: 4:1 turns 1 share into 4.
    return replace(
        bar,
        open=bar.open * price_scale,
        high=bar.high * price_scale,
        low=bar.low * price_scale,
        close=bar.close * price_scale,
        volume=bar.volume / split_factor,
        adj_close=adj_close,
    )
