"""The level engine: daily index levels by the shares-and-divisor method.

level_t = sum_i(price_i,t x index shares_i) / divisor_t. Index shares are reset to the
target weights at the close of each rebalance or constituent change and the divisor is
re-solved so the level does not move (S&P DJI Index Mathematics, "Divisor Adjustments").
Between resets the work is one matrix-vector product per segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import numpy.typing as npt

from indexer.domain.definition import (
    CappedMarketCapWeighting,
    ConstituentUniverse,
    EqualWeighting,
    FixedWeighting,
    HoldingsWeighting,
    IndexDefinition,
    MarketCapWeighting,
    PortfolioUniverse,
    PriceWeighting,
    TopMarketCapUniverse,
)
from indexer.domain.methodology import cap_weight_rows
from indexer.domain.panel import DateArray, Event, FloatArray, HoldingsSnapshot, Panel, to_date
from indexer.domain.schedule import scheduled_rebalance_rows

__all__ = [
    "IndexInputError",
    "IndexResult",
    "LevelRow",
    "Rebalance",
    "RebalanceTable",
    "compute_index",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class IndexInputError(ValueError):
    """The definition and the market data cannot make an index; the message says why."""


@dataclass(frozen=True, eq=False)
class Rebalance:
    """An allocation taking effect at the close of `day`: the constituents held from then
    on with their weights (at that close) and index shares, and the new divisor."""

    day: date
    reason: str  # base | scheduled | constituents | split
    symbols: tuple[str, ...]  # every symbol of the price panel, in panel order
    panel_weights: FloatArray  # one entry per panel symbol, 0 when not held
    panel_shares: FloatArray
    divisor: float

    @cached_property
    def columns(self) -> IntArray:
        """Positions in `symbols` of the constituents held."""
        return np.flatnonzero(self.panel_shares).astype(np.int64)

    @property
    def weights(self) -> FloatArray:
        return self.panel_weights[self.columns]

    @property
    def index_shares(self) -> FloatArray:
        return self.panel_shares[self.columns]

    def weight_map(self) -> dict[str, float]:
        return {self.symbols[c]: float(self.panel_weights[c]) for c in self.columns}

    def shares_map(self) -> dict[str, float]:
        return {self.symbols[c]: float(self.panel_shares[c]) for c in self.columns}


@dataclass(frozen=True)
class LevelRow:
    day: date
    level: float
    divisor: float
    flags: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class RebalanceTable:
    """All allocations of one computation (k-th entry = k-th rebalance). The matrices and
    the `Rebalance` objects are built only when someone asks for them."""

    symbols: tuple[str, ...]
    days: list[date]
    reasons: tuple[str, ...]
    share_rows: tuple[FloatArray, ...]
    valued_at: tuple[FloatArray, ...]  # the closes each allocation was weighed at
    market_values: FloatArray
    divisors: FloatArray

    @cached_property
    def shares(self) -> FloatArray:
        """Index shares, allocations x symbols (0 = not held)."""
        return np.vstack(self.share_rows)

    @cached_property
    def weights(self) -> FloatArray:
        """Weights at the allocation's close, allocations x symbols."""
        valued: FloatArray = np.vstack(self.valued_at) * self.shares
        return valued / self.market_values[:, np.newaxis]


@dataclass(frozen=True, eq=False)
class IndexResult:
    """Levels from the base date on. `divisors[t]` is the divisor in force after the
    close of day t, so level_t = sum(price_t x index shares after close t) / divisor_t
    holds on every day, rebalance days included. For a total-return index it is the
    total-return divisor, lowered on each ex-date to reinvest the dividends."""

    index_id: str
    version: int
    dates: DateArray
    levels: FloatArray
    divisors: FloatArray
    flags: tuple[tuple[str, ...], ...]
    allocations: RebalanceTable

    @cached_property
    def rebalances(self) -> tuple[Rebalance, ...]:
        """Every allocation in date order, the base allocation first."""
        table = self.allocations
        return tuple(
            Rebalance(day, reason, table.symbols, weights, shares, float(divisor))
            for day, reason, weights, shares, divisor in zip(
                table.days,
                table.reasons,
                table.weights,
                table.shares,
                table.divisors,
                strict=True,
            )
        )

    def rows(self) -> list[LevelRow]:
        return [
            LevelRow(to_date(d), float(lv), float(dv), fl)
            for d, lv, dv, fl in zip(
                self.dates, self.levels, self.divisors, self.flags, strict=True
            )
        ]


@dataclass(frozen=True)
class _Resets:
    rows: IntArray  # rows (from the base row, 0) whose close resets the index shares
    reasons: tuple[str, ...]
    basis: FloatArray  # per reset: index shares, or weight / price when scaled_by_value
    scaled_by_value: bool  # True: shares = basis x index market value before the reset
    notes: dict[int, list[str]]


def _forward_fill(values: FloatArray) -> FloatArray:
    rows = np.arange(values.shape[0])[:, np.newaxis]
    last = np.where(np.isnan(values), 0, rows)
    np.maximum.accumulate(last, axis=0, out=last)
    filled: FloatArray = np.take_along_axis(values, last, axis=0)
    return filled


def _first_valid_rows(values: FloatArray) -> IntArray:
    valid = ~np.isnan(values)
    first: IntArray = np.argmax(valid, axis=0).astype(np.int64)
    first[~valid.any(axis=0)] = values.shape[0]
    return first


def _rows_of(dates: DateArray, days: Sequence[date]) -> IntArray:
    """First row on or after each day (a day between trading days maps to the next one)."""
    found: IntArray = np.searchsorted(dates, np.asarray(days, dtype="datetime64[D]"), side="left")
    return found.astype(np.int64)


def _columns_for(symbols: Sequence[str], column_of: dict[str, int], what: str) -> IntArray:
    unknown = sorted({s for s in symbols if s not in column_of})
    if unknown:
        raise IndexInputError(
            f"{what} name symbols with no prices: {', '.join(unknown)}; add their closes to "
            "the prices or remove them"
        )
    return np.asarray([column_of[s] for s in symbols], dtype=np.int64)


def _shares_at(
    shares: Panel | None, symbols: tuple[str, ...], days: DateArray, needed_by: str
) -> FloatArray:
    """Shares outstanding in force (last observation on or before) on each day."""
    if shares is None:
        raise IndexInputError(f"{needed_by} weighting needs shares outstanding (--shares)")
    filled = _forward_fill(shares.values)
    at = np.searchsorted(shares.dates, days, side="right") - 1
    if shares.symbols == symbols:
        aligned: FloatArray = np.where((at >= 0)[:, np.newaxis], filled[np.maximum(at, 0)], np.nan)
        return aligned
    out = np.full((len(days), len(symbols)), np.nan)
    position = {s: k for k, s in enumerate(shares.symbols)}
    cols = [(i, position[s]) for i, s in enumerate(symbols) if s in position]
    if cols:
        mine = np.asarray([c[0] for c in cols])
        theirs = np.asarray([c[1] for c in cols])
        known = at >= 0
        out[np.ix_(np.flatnonzero(known), mine)] = filled[np.ix_(at[known], theirs)]
    return out


def _plan_resets(
    definition: IndexDefinition,
    *,
    dates: DateArray,
    symbols: tuple[str, ...],
    closes: FloatArray,
    first_priced: IntArray,
    shares: Panel | None,
    holdings: Sequence[HoldingsSnapshot],
) -> _Resets:
    """Decide every reset row and its target index shares; none of this depends on the
    levels, so it is computed for all resets at once."""
    n_rows, n_cols = closes.shape
    column_of = {s: k for k, s in enumerate(symbols)}
    universe = definition.universe
    weighting = definition.weighting
    scheduled = scheduled_rebalance_rows(dates, definition.rebalance, after_row=0)
    change_rows: IntArray = np.zeros(0, dtype=np.int64)
    held_qty: FloatArray | None = None

    # Membership of each candidate row: eligible[r, i] says symbol i is held after close r.
    if isinstance(universe, ConstituentUniverse):
        members = universe.constituents
        cols = _columns_for([c.symbol for c in members], column_of, "constituents")
        enter = first_priced[cols].copy()
        leave = np.full(len(members), n_rows, dtype=np.int64)
        dated = [k for k, c in enumerate(members) if c.start is not None or c.end is not None]
        for k in dated:
            start, end = members[k].start, members[k].end
            if start is not None:
                enter[k] = max(enter[k], int(_rows_of(dates, [start])[0]))
            if end is not None:
                leave[k] = int(_rows_of(dates, [end])[0])
        change_rows = np.concatenate([enter, leave])
        unique_members = len(set(cols.tolist())) == len(cols)

        def membership(rows: IntArray) -> BoolArray:
            # Built symbol-major: one contiguous row per member is the cheap copy.
            held = np.zeros((n_cols, len(rows)), dtype=bool)
            spells = (enter[:, np.newaxis] <= rows) & (rows < leave[:, np.newaxis])
            if unique_members:
                held[cols] = spells
            else:
                # A symbol listed twice (two membership spells) is held in either spell.
                np.logical_or.at(held, cols, spells)
            return held.T

    elif isinstance(universe, PortfolioUniverse):
        if not holdings:
            raise IndexInputError(
                f"universe is portfolio {universe.portfolio!r} but no holdings snapshot was given"
            )
        ordered = sorted(holdings, key=lambda h: h.as_of)
        snap_rows = _rows_of(dates, [h.as_of for h in ordered])
        snap_rows = np.maximum(snap_rows, 0)
        if int(snap_rows[0]) > 0:
            raise IndexInputError(
                f"no holdings snapshot of {universe.portfolio!r} on or before the base date "
                f"{to_date(dates[0])}; the first is {ordered[0].as_of}"
            )
        quantities = np.zeros((len(ordered), n_cols))
        for k, snap in enumerate(ordered):
            cols = _columns_for(list(snap.quantities), column_of, "holdings")
            quantities[k, cols] = np.asarray(list(snap.quantities.values()), dtype=np.float64)
        in_any = np.flatnonzero((quantities != 0).any(axis=0))
        change_rows = np.concatenate([snap_rows, first_priced[in_any]])

        def membership(rows: IntArray) -> BoolArray:
            nonlocal held_qty
            current = np.searchsorted(snap_rows, rows, side="right") - 1
            held_qty = quantities[current]
            held: BoolArray = held_qty != 0
            return held

    else:
        assert isinstance(universe, TopMarketCapUniverse)
        pool = (
            _columns_for(universe.candidates, column_of, "rule candidates")
            if universe.candidates
            else np.arange(n_cols, dtype=np.int64)
        )

        def membership(rows: IntArray) -> BoolArray:
            caps = closes[rows] * _shares_at(shares, symbols, dates[rows], "a top_market_cap")
            ranked = np.full((len(rows), n_cols), -np.inf)
            ranked[:, pool] = np.where(
                np.isfinite(caps[:, pool]) & (caps[:, pool] > 0), caps[:, pool], -np.inf
            )
            # Stable sort on the negated caps: ties go to the earlier symbol, every run.
            order = np.argsort(-ranked, axis=1, kind="stable")[:, : universe.n]
            held = np.zeros((len(rows), n_cols), dtype=bool)
            np.put_along_axis(held, order, True, axis=1)
            held &= np.isfinite(ranked)
            return held

    # Candidate rows: base (0), scheduled, and every row where membership may change.
    change_rows = change_rows[(change_rows > 0) & (change_rows < n_rows)]
    candidates = np.union1d(np.union1d(scheduled, change_rows), np.zeros(1, dtype=np.int64))
    held = membership(candidates)
    notes: dict[int, list[str]] = {}
    if bool(first_priced.any()):
        held &= first_priced[np.newaxis, :] <= candidates[:, np.newaxis]

    needs_shares = isinstance(weighting, MarketCapWeighting | CappedMarketCapWeighting)
    shares_now: FloatArray | None = None
    if needs_shares:
        shares_now = _shares_at(shares, symbols, dates[candidates], weighting.method)
        usable = shares_now > 0  # False for NaN (no shares known yet) too
        lacking = held & ~usable
        if bool(lacking.any()):
            for k, c in zip(*np.nonzero(lacking), strict=True):
                notes.setdefault(int(candidates[k]), []).append(f"no_shares:{symbols[c]}")
            held &= usable

    is_scheduled = np.isin(candidates, scheduled)
    # A dropped candidate equals the last kept one, so comparing each candidate with its
    # predecessor is the same as comparing it with the last kept reset.
    keep = is_scheduled | (candidates == 0)
    if not bool(keep.all()):
        keep |= np.concatenate([[True], (held[1:] != held[:-1]).any(axis=1)])
    rows = candidates[keep]
    held = held[keep]
    if held_qty is not None:
        held_qty = held_qty[keep]
    if shares_now is not None:
        shares_now = shares_now[keep]
    empty = np.flatnonzero(~held.any(axis=1))
    if empty.size:
        raise IndexInputError(
            f"the index has no priced constituent after the close of "
            f"{to_date(dates[rows[empty[0]]])}; check the universe and the prices"
        )
    reasons = tuple(
        "base" if r == 0 else ("scheduled" if s else "constituents")
        for r, s in zip(rows, is_scheduled[keep], strict=True)
    )
    closes_now = closes[rows]

    if isinstance(weighting, EqualWeighting):
        held_f = held.astype(np.float64)
        weights = held_f / held_f.sum(axis=1, keepdims=True)
        return _Resets(rows, reasons, _per_price(weights, closes_now), True, notes)
    if isinstance(weighting, FixedWeighting):
        held_f = held.astype(np.float64)
        fixed = np.zeros(n_cols)
        for symbol, w in weighting.weights.items():
            fixed[column_of[symbol]] = w
        raw = held_f * fixed
        weights = raw / raw.sum(axis=1, keepdims=True)
        return _Resets(rows, reasons, _per_price(weights, closes_now), True, notes)
    if isinstance(weighting, PriceWeighting):
        return _Resets(rows, reasons, held.astype(np.float64), False, notes)
    if isinstance(weighting, HoldingsWeighting):
        assert held_qty is not None
        return _Resets(rows, reasons, np.where(held, held_qty, 0.0), False, notes)
    assert shares_now is not None
    if isinstance(weighting, MarketCapWeighting):
        return _Resets(rows, reasons, np.where(held, shares_now, 0.0), False, notes)
    assert isinstance(weighting, CappedMarketCapWeighting)
    caps = closes_now * shares_now
    caps[~held] = 0.0
    capped = cap_weight_rows(caps, weighting.cap)
    for row in rows[~capped.feasible]:
        notes.setdefault(int(row), []).append("cap_infeasible")
    # Index shares = shares x AWF with AWF = capped / uncapped weight (S&P DJI p.10), which
    # keeps the index market value equal to the constituents' total market cap.
    basis = capped.weights * caps.sum(axis=1, keepdims=True)
    return _Resets(rows, reasons, _per_price(basis, closes_now), False, notes)


def _reset_shares(resets: _Resets, k: int, row_closes: FloatArray, q: FloatArray) -> FloatArray:
    """Index shares after reset k; weight-based targets are scaled so the index market value
    before and after the reset is the same (S&P's Z constant)."""
    if resets.scaled_by_value:
        scaled: FloatArray = resets.basis[k] * float(row_closes @ q)
        return scaled
    target: FloatArray = resets.basis[k]
    return target


def _per_price(values: FloatArray, closes: FloatArray) -> FloatArray:
    out = np.zeros_like(values)
    np.divide(values, closes, out=out, where=values != 0)
    return out


def _events_by_row(
    events: Sequence[Event], dates: DateArray, column_of: dict[str, int], what: str
) -> tuple[IntArray, IntArray, FloatArray]:
    if not events:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    cols = _columns_for([e.symbol for e in events], column_of, what)
    rows = _rows_of(dates, [e.day for e in events])
    values = np.asarray([e.value for e in events], dtype=np.float64)
    # Events on or before the base date are already in the base prices; later than the
    # last price they have no day to act on.
    inside = (rows > 0) & (rows < len(dates))
    order = np.argsort(rows[inside], kind="stable")
    return rows[inside][order], cols[inside][order], values[inside][order]


def _reject_non_positive(closes: FloatArray, dates: DateArray, symbols: tuple[str, ...]) -> None:
    bad = np.argwhere(closes <= 0.0)
    if bad.size:
        row, col = int(bad[0][0]), int(bad[0][1])
        raise IndexInputError(
            f"close of {symbols[col]} on {to_date(dates[row])} is {closes[row, col]}; "
            "closes must be positive"
        )


def compute_index(
    definition: IndexDefinition,
    prices: Panel,
    *,
    shares: Panel | None = None,
    dividends: Sequence[Event] = (),
    splits: Sequence[Event] = (),
    holdings: Sequence[HoldingsSnapshot] = (),
) -> IndexResult:
    """Daily levels and rebalances of `definition` from its base date to the last price.

    `prices` are closes in the index currency, unadjusted (splits come as `splits`) or
    adjusted (then pass no splits). A missing close carries the last one forward and the
    day is flagged `carried_forward:SYMBOL`. `shares` (shares outstanding, as of each date)
    are needed by market-cap weightings and top-N rules; `holdings` by portfolio
    universes. Dividends are reinvested on their ex-date when `return_type` is total.
    """
    all_dates = prices.dates
    start = int(np.searchsorted(all_dates, np.datetime64(definition.base_date, "D")))
    if start >= len(all_dates):
        raise IndexInputError(
            f"no prices on or after the base date {definition.base_date}; the last price is "
            f"on {to_date(all_dates[-1])}"
            if len(all_dates)
            else "the price panel is empty"
        )
    dates = all_dates[start:]
    symbols = prices.symbols
    column_of = {s: k for k, s in enumerate(symbols)}
    raw = prices.values[start:]
    # One pass answers both questions: min() is NaN when any close is missing.
    lowest = float(raw.min()) if raw.size else 0.0
    missing: BoolArray | None = None
    if np.isnan(lowest):
        missing = np.isnan(raw)
        closes = _forward_fill(prices.values)[start:]
        _reject_non_positive(closes, dates, symbols)
        first_priced = _first_valid_rows(closes)
        # A symbol not priced yet is never held; a zero keeps NaN out of the dot products.
        closes = np.where(np.isnan(closes), 0.0, closes)
    else:
        closes = raw
        if lowest <= 0.0:
            _reject_non_positive(closes, dates, symbols)
        first_priced = np.zeros(len(symbols), dtype=np.int64)

    resets = _plan_resets(
        definition,
        dates=dates,
        symbols=symbols,
        closes=closes,
        first_priced=first_priced,
        shares=shares,
        holdings=holdings,
    )
    split_rows, split_cols, split_ratios = _events_by_row(splits, dates, column_of, "splits")
    if bool((split_ratios <= 0).any()):
        raise IndexInputError("split ratios must be positive (new shares per old share)")
    total_return = definition.return_type == "total"
    div_rows, div_cols, div_amounts = (
        _events_by_row(dividends, dates, column_of, "dividends")
        if total_return
        else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    )
    price_weighted = isinstance(definition.weighting, PriceWeighting)

    n_rows = len(dates)
    market_values = np.empty(n_rows)
    divisors = np.empty(n_rows)
    notes: dict[int, list[str]] = {r: list(v) for r, v in resets.notes.items()}
    base_value = float(definition.base_value)
    # Levels of reset rows, taken before the reset, and the divisors set by the reset.
    level_at: dict[int, float] = {0: base_value}
    divisor_after: dict[int, float] = {}

    # (row of the reset, reason, index shares, market value, divisor, closes used)
    allocations: list[tuple[int, str, FloatArray, float, float, FloatArray | None]] = []

    def record(
        row: int,
        reason: str,
        q: FloatArray,
        market_value: float,
        d: float,
        row_closes: FloatArray | None = None,
    ) -> None:
        allocations.append((row, reason, q, market_value, d, row_closes))
        notes.setdefault(row, []).append("rebalance" if reason == "scheduled" else reason)

    q = resets.basis[0] * (base_value if resets.scaled_by_value else 1.0)
    value = float(closes[0] @ q)
    divisor = value / base_value
    market_values[0] = value
    divisors[0] = divisor
    record(0, "base", q, value, divisor)

    reset_at = {int(r): k for k, r in enumerate(resets.rows)}
    has_splits, has_dividends = split_rows.size > 0, div_rows.size > 0
    if has_splits or has_dividends:
        positions = np.arange(n_rows + 1)
        split_starts = np.searchsorted(split_rows, positions, side="left").tolist()
        div_starts = np.searchsorted(div_rows, positions, side="left").tolist()
    bounds = np.union1d(resets.rows[1:] + 1, split_rows)
    bounds = np.union1d(bounds[bounds < n_rows], np.asarray([1, n_rows], dtype=np.int64))
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        level = level_at[0] if a == 1 else float(market_values[a - 1]) / divisor
        k = reset_at.get(a - 1)
        if k is not None and a > 1:
            level_at[a - 1] = level
            q = _reset_shares(resets, k, closes[a - 1], q)
            value = float(closes[a - 1] @ q)
            divisor = value / level
            divisor_after[a - 1] = divisor
            record(a - 1, resets.reasons[k], q, value, divisor)
        s0, s1 = (split_starts[a], split_starts[a + 1]) if has_splits else (0, 0)
        if s1 > s0:
            cols, ratios = split_cols[s0:s1], split_ratios[s0:s1]
            affected = q[cols] != 0
            for c in cols[affected]:
                notes.setdefault(a, []).append(f"split:{symbols[c]}")
            q = q.copy()
            q[cols] *= ratios  # level-neutral: the close falls by the same ratio
            if price_weighted and bool(affected.any()):
                # A price-weighted index keeps one share per name and absorbs the split in
                # the divisor: D_new = sum(adjusted prices) / level (S&P DJI p.15).
                q = (q != 0).astype(np.float64)
                adjusted = closes[a - 1].copy()
                adjusted[cols] /= ratios
                value = float(adjusted @ q)
                divisor = value / level
                record(a, "split", q, value, divisor, adjusted)
        segment = market_values[a:b]
        np.matmul(closes[a:b], q, out=segment)
        d0, d1 = (div_starts[a], div_starts[b]) if has_dividends else (0, 0)
        if d1 > d0:
            paid = np.zeros(b - a)
            np.add.at(paid, div_rows[d0:d1] - a, div_amounts[d0:d1] * q[div_cols[d0:d1]])
            # Reinvest on the ex-date: D_t = D_{t-1} x MV_t / (MV_t + dividends_t), so
            # level_t = (MV_t + dividends_t) / D_{t-1} (S&P DJI p.21 in divisor form).
            path = divisor * np.cumprod(segment / (segment + paid))
            divisors[a:b] = path
            divisor = float(path[-1])
            for r, c in zip(div_rows[d0:d1], div_cols[d0:d1], strict=True):
                if q[c] != 0:
                    notes.setdefault(int(r), []).append(f"dividend:{symbols[c]}")
        else:
            divisors[a:b] = divisor
        if missing is not None:
            held = np.flatnonzero(q)
            gaps = missing[a:b][:, held]
            for r, c in zip(*np.nonzero(gaps), strict=True):
                notes.setdefault(a + int(r), []).append(f"carried_forward:{symbols[held[c]]}")
    # A reset at the last close only changes what tomorrow would hold.
    last = n_rows - 1
    k = reset_at.get(last)
    if k is not None and last > 0:
        level = float(market_values[last]) / divisor
        level_at[last] = level
        q = _reset_shares(resets, k, closes[last], q)
        value = float(closes[last] @ q)
        divisor_after[last] = value / level
        record(last, resets.reasons[k], q, value, divisor_after[last])

    levels = market_values / divisors
    for row, level in level_at.items():
        levels[row] = level
    for row, after in divisor_after.items():
        divisors[row] = after

    alloc_rows = [a[0] for a in allocations]
    table = RebalanceTable(
        symbols=symbols,
        days=dates[alloc_rows].tolist(),
        reasons=tuple(a[1] for a in allocations),
        share_rows=tuple(a[2] for a in allocations),
        valued_at=tuple(closes[a[0]] if a[5] is None else a[5] for a in allocations),
        market_values=np.asarray([a[3] for a in allocations]),
        divisors=np.asarray([a[4] for a in allocations]),
    )
    empty: tuple[str, ...] = ()
    flags = [empty] * n_rows
    for r, v in notes.items():
        flags[r] = tuple(v)
    return IndexResult(
        index_id=definition.id,
        version=definition.version,
        dates=dates,
        levels=levels,
        divisors=divisors,
        flags=tuple(flags),
        allocations=table,
    )
