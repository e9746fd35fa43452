"""Indexes over real Lean daily closes (1998-2021), checked against an independent numpy
computation written here: buy-and-hold of target weights between resets, chained."""

from __future__ import annotations

import csv
import itertools
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer.domain.levels import compute_index
from indexer.domain.panel import Event, Panel, as_dates

SYMBOLS = ("aapl", "aig", "bac", "ibm", "spy", "wm")  # wm starts trading on 1998-12-09
# Shares outstanding are not in the Lean data; these fixed counts (split-adjusted, in
# the rough proportions of the real companies) only have to be the same on both sides.
SHARES = {"aapl": 17e9, "aig": 0.9e9, "bac": 8.7e9, "ibm": 0.9e9, "spy": 0.9e9, "wm": 0.42e9}


def _closes(path: Path) -> dict[date, float]:
    with zipfile.ZipFile(path) as archive:
        text = archive.read(archive.namelist()[0]).decode()
    out = {}
    for line in text.splitlines():
        fields = line.split(",")
        # Lean daily rows: "yyyyMMdd HH:mm,open,high,low,close,volume", prices x 10,000.
        out[datetime.strptime(fields[0], "%Y%m%d %H:%M").date()] = int(fields[4]) / 10_000
    return out


def _split_factors(path: Path) -> list[tuple[date, float]]:
    with path.open() as handle:
        return [(datetime.strptime(r[0], "%Y%m%d").date(), float(r[2])) for r in csv.reader(handle)]


@pytest.fixture(scope="module")
def lean(reference_dir: Path) -> dict[str, object]:
    prices_dir = reference_dir / "prices" / "lean_daily"
    factor_dir = reference_dir / "symbology" / "lean" / "factor_files"
    closes = {s: _closes(prices_dir / f"{s}.zip") for s in SYMBOLS}
    days = sorted(set().union(*closes.values()))
    raw = np.asarray([[closes[s].get(d, np.nan) for s in SYMBOLS] for d in days])
    dates = as_dates(days)
    adjusted = raw.copy()
    splits: list[Event] = []
    for k, symbol in enumerate(SYMBOLS):
        rows = _split_factors(factor_dir / f"{symbol}.csv")
        # A factor row's split factor applies to every day up to and including its date
        # (Lean's factor-file convention), so a change between rows is a split whose
        # ex-date is the next trading day.
        row_dates = as_dates([r[0] for r in rows])
        factor = np.asarray([r[1] for r in rows])[np.searchsorted(row_dates, dates, side="left")]
        adjusted[:, k] *= factor
        for (day, before), (_, after) in itertools.pairwise(rows):
            if after != before:
                ex = days[int(np.searchsorted(dates, np.datetime64(day, "D"), side="right"))]
                splits.append(Event(ex, symbol, after / before))
    return {"dates": dates, "raw": raw, "adjusted": adjusted, "splits": splits}


def _reference_forward_fill(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for j in range(out.shape[1]):
        valid = np.flatnonzero(~np.isnan(out[:, j]))
        if valid.size:
            pick = np.searchsorted(valid, np.arange(out.shape[0]), side="right") - 1
            ok = pick >= 0
            out[ok, j] = out[valid[pick[ok]], j]
    return out


def _month_starts(dates: np.ndarray, start: int) -> list[int]:
    months = dates.astype("datetime64[M]")
    return [t for t in range(start + 1, len(dates)) if months[t] != months[t - 1]]


def _buy_and_hold(closes: np.ndarray, resets: list[int], weights_at, base: float, start: int):
    """level_t = level_r x sum_i w_i x P_i,t / P_i,r for t after reset r, chained."""
    levels = np.empty(len(closes))
    levels[start] = base
    marks = [*resets, len(closes) - 1]
    for r, nxt in itertools.pairwise(marks):
        w = weights_at(r)
        held = w > 0
        growth = closes[r + 1 : nxt + 1][:, held] / closes[r, held]
        levels[r + 1 : nxt + 1] = levels[r] * (growth @ w[held])
    return levels


def _sorted_cap(weights: np.ndarray, cap: float) -> np.ndarray:
    """Capping solved directly: the k largest sit at the cap, the rest share 1 - k x cap
    pro rata, with the smallest k that leaves no other name above the cap."""
    order = np.argsort(-weights)
    s = weights[order]
    for k in range(len(s)):
        scaled = s[k:] * (1 - k * cap) / s[k:].sum()
        if scaled[0] <= cap * (1 + 1e-12):
            out = np.empty_like(weights)
            out[order] = np.concatenate([np.full(k, cap), scaled])
            return out
    raise AssertionError("cap infeasible")


def test_equal_weight_monthly_on_raw_closes_with_splits(lean, make_definition):
    dates, raw, adjusted = lean["dates"], lean["raw"], lean["adjusted"]
    definition = make_definition(
        id="lean-ew",
        base_date=date(1998, 1, 2),
        weighting="equal",
        rebalance="monthly",
        universe={"constituents": list(SYMBOLS)},
    )
    panel = Panel(dates, SYMBOLS, raw)
    result = compute_index(definition, panel, splits=lean["splits"])

    filled = _reference_forward_fill(adjusted)
    wm = SYMBOLS.index("wm")
    wm_first = int(np.flatnonzero(~np.isnan(adjusted[:, wm]))[0])
    resets = sorted({0, wm_first, *_month_starts(dates, 0)})

    def equal(r: int) -> np.ndarray:
        priced = ~np.isnan(filled[r])
        return priced / priced.sum()

    expected = _buy_and_hold(filled, resets, equal, 100.0, 0)
    np.testing.assert_allclose(result.levels, expected, rtol=1e-11)
    assert len(result.rebalances) == len(resets)
    joins = [rb for rb in result.rebalances if rb.reason == "constituents"]
    assert [rb.day for rb in joins] == [dates[wm_first].item()]  # WM joins on its first close
    assert "wm" in joins[0].weight_map() and "wm" not in result.rebalances[0].weight_map()
    assert {f for fl in result.flags for f in fl if f.startswith("split:")} == {
        "split:aapl",
        "split:aig",
        "split:bac",
        "split:ibm",
    }
    # 23 years of real prices: the index ends far from where it started.
    assert result.levels[-1] > 300


def test_capped_market_cap_monthly_on_adjusted_closes(lean, make_definition):
    dates, adjusted = lean["dates"], lean["adjusted"]
    base = int(np.searchsorted(dates, np.datetime64("1999-01-04")))
    cap = 0.25
    definition = make_definition(
        id="lean-capped",
        base_date=date(1999, 1, 4),
        base_value=1000.0,
        weighting={"method": "capped_market_cap", "cap": cap},
        rebalance="monthly",
        universe={"constituents": list(SYMBOLS)},
    )
    counts = np.asarray([SHARES[s] for s in SYMBOLS])
    shares = Panel(dates[:1], SYMBOLS, counts[np.newaxis, :])
    result = compute_index(definition, Panel(dates, SYMBOLS, adjusted), shares=shares)

    filled = _reference_forward_fill(adjusted)
    resets = [base, *_month_starts(dates, base)]

    def capped(r: int) -> np.ndarray:
        caps = filled[r] * counts
        return _sorted_cap(caps / caps.sum(), cap)

    expected = _buy_and_hold(filled, resets, capped, 1000.0, base)[base:]
    np.testing.assert_allclose(result.levels, expected, rtol=1e-11)
    top = max(max(rb.weights) for rb in result.rebalances)
    assert top == pytest.approx(cap, rel=1e-12)  # AAPL's weight is capped for years
    for rb, r in zip(result.rebalances, resets, strict=True):
        np.testing.assert_allclose(
            [rb.weight_map()[s] for s in SYMBOLS], capped(r), rtol=1e-12, atol=1e-15
        )
