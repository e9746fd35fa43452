"""Split and dividend adjustment of raw daily bars, with factor rows laid out the way
QuantConnect Lean's factor files are, so the two can be compared date by date.

Lean factor file row: `yyyyMMdd, price_factor, split_factor, reference_price`, where the
row date is the last session before an ex-date, both factors are cumulative backwards
from today and apply to every date up to the row date (Lean FactorFile.GetPriceScaleFactor
takes the first row dated on or after the date asked), and reference_price is the raw
close on the row date. A dividend D with previous close C multiplies earlier prices by
1 - D/C; a split of r new shares per old share multiplies them by 1/r.

Stored bars carry their provider's basis, so `adjust_stored` applies only what that basis
lacks; a series whose bars come in several bases is refused (`MixedBasis`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from pricing.domain.bars import ActionType, CorporateAction, PriceBar, PriceBasis


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


# What each basis already contains, so what adjusting it fully still has to apply.
_STILL_TO_APPLY: dict[PriceBasis, frozenset[ActionType]] = {
    PriceBasis.RAW: frozenset({ActionType.SPLIT, ActionType.DIVIDEND}),
    PriceBasis.SPLIT: frozenset({ActionType.DIVIDEND}),
    PriceBasis.SPLIT_DIVIDEND: frozenset(),
}


def adjust_stored(
    bars: Sequence[PriceBar], actions: Sequence[CorporateAction], *, basis: PriceBasis
) -> tuple[PriceBar, ...]:
    """Split+dividend adjusted daily bars from bars stored in `basis`, applying only the
    actions that basis does not already contain (a split-adjusted series gets its
    dividends only; a split+dividend adjusted one comes back as stored, with adj_close =
    close). Dividend amounts are taken in the bars' basis, as each provider reports them
    with its own bars (Yahoo's dividend amounts are split-adjusted like its prices)."""
    wanted = _STILL_TO_APPLY[basis]
    return adjust(bars, [a for a in actions if a.type in wanted]).fully_adjusted


@dataclass(frozen=True, slots=True)
class BasisRun:
    """Consecutive stored bars of one basis."""

    basis: PriceBasis
    first: date
    last: date
    bars: int
    providers: tuple[str, ...]

    def describe(self) -> str:
        providers = ", ".join(self.providers)
        return f"{self.basis.value} {self.first}..{self.last} ({self.bars} bars from {providers})"


def basis_runs(bars: Sequence[tuple[PriceBar, PriceBasis]]) -> list[BasisRun]:
    """The runs of one basis in a date-ordered series, oldest first."""
    runs: list[BasisRun] = []
    for bar, basis in bars:
        last = runs[-1] if runs else None
        if last is not None and last.basis is basis:
            providers = last.providers
            if bar.provider not in providers:
                providers = (*providers, bar.provider)
            runs[-1] = replace(last, last=bar.trading_date, bars=last.bars + 1, providers=providers)
        else:
            runs.append(BasisRun(basis, bar.trading_date, bar.trading_date, 1, (bar.provider,)))
    return runs


class MixedBasis(ValueError):
    """One instrument's stored series mixes price bases, so no single adjusted series can
    be computed from it exactly: a split-adjusted run is adjusted as of when it was
    fetched, and the split history it already contains is not stored."""

    def __init__(self, symbol: str, runs: Sequence[BasisRun]) -> None:
        self.symbol = symbol
        self.runs = tuple(runs)
        super().__init__(
            f"{symbol}'s stored bars mix price bases: "
            + "; ".join(r.describe() for r in self.runs)
            + ". An adjusted series would mix them; read adjusted=false (each bar says "
            "its basis), or delete the odd run from bars_daily and refresh it through a "
            "provider of the other runs' basis."
        )


def adjust_stored_series(
    symbol: str, bars: Sequence[tuple[PriceBar, PriceBasis]], actions: Sequence[CorporateAction]
) -> tuple[PriceBar, ...]:
    """`adjust_stored` over a stored series of one basis; raises `MixedBasis` otherwise."""
    runs = basis_runs(bars)
    if len({r.basis for r in runs}) > 1:
        raise MixedBasis(symbol, runs)
    basis = runs[0].basis if runs else PriceBasis.RAW
    return adjust_stored([b for b, _ in bars], actions, basis=basis)
