"""Split/dividend adjustment agrees with QuantConnect Lean's factor file for AAPL, using
Lean's raw prices and the actions from Yahoo's real recording (three sources, one answer)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pricing.adapters.providers.yahoo import parse_chart
from pricing.domain.adjustment import (
    MixedBasis,
    adjust,
    adjust_stored,
    adjust_stored_series,
    factor_on,
    factor_rows,
)
from pricing.domain.bars import CorporateAction, PriceBar, PriceBasis
from pricing.domain.timestamps import compact_date

from .conftest import BarFactory, Recording

LeanRows = Callable[[str], list[tuple[date, float, float, float, float, int]]]


def _lean_factors(reference_dir: Path, ticker: str) -> list[tuple[date, float, float, float]]:
    rows = []
    for line in (
        (reference_dir / "symbology" / "lean" / "factor_files" / f"{ticker}.csv")
        .read_text()
        .split()
    ):
        day, price, split, reference = line.split(",")
        rows.append((compact_date(day), float(price), float(split), float(reference)))
    return rows


def _lean_factor_on(rows: list[tuple[date, float, float, float]], day: date) -> float:
    # Lean FactorFile: the first row dated on or after the date asked applies.
    row = next(r for r in rows if r[0] >= day)
    return row[1] * row[2]


@pytest.fixture(scope="module")
def aapl_2020(lean_raw_closes: LeanRows) -> list[PriceBar]:
    return [
        PriceBar("AAPL", d, o, h, lo, c, float(v), provider="lean")
        for d, o, h, lo, c, v in lean_raw_closes("aapl")
        if date(2020, 6, 1) <= d <= date(2020, 12, 31)
    ]


@pytest.fixture(scope="module")
def yahoo_actions(recording: Recording) -> tuple[CorporateAction, ...]:
    body = recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    return parse_chart(body).actions


def test_factor_rows_match_lean_rows_and_reference_prices(
    aapl_2020: list[PriceBar], yahoo_actions: tuple[CorporateAction, ...], reference_dir: Path
) -> None:
    ours = factor_rows(aapl_2020, yahoo_actions)
    lean = {r[0]: r for r in _lean_factors(reference_dir, "aapl")}
    # Rows sit on the last session before each ex-date, with that day's raw close.
    assert [(r.last_date, r.reference_price) for r in ours] == [
        (date(2020, 8, 28), 499.23),
        (date(2020, 11, 5), 119.03),
    ]
    assert lean[date(2020, 8, 28)][3] == 499.23 and lean[date(2020, 11, 5)][3] == 119.03


@pytest.mark.parametrize(
    ("day", "later"),
    [
        (date(2020, 8, 28), date(2020, 11, 6)),  # across the split and the dividend
        (date(2020, 8, 10), date(2020, 8, 31)),  # across the split only (after the 08-07 dividend)
        (date(2020, 11, 5), date(2020, 11, 6)),  # across the dividend only
        (date(2020, 9, 15), date(2020, 10, 15)),  # across nothing
    ],
)
def test_cumulative_factors_agree_with_lean_between_dates(
    aapl_2020: list[PriceBar],
    yahoo_actions: tuple[CorporateAction, ...],
    reference_dir: Path,
    day: date,
    later: date,
) -> None:
    # Lean's factors also carry every later dividend up to 2021; the ratio between two
    # dates only holds the actions between them, which the Yahoo recording has.
    ours = factor_rows(aapl_2020, yahoo_actions)
    ours_ratio = (lambda f: f[0] * f[1])(factor_on(ours, day)) / (lambda f: f[0] * f[1])(
        factor_on(ours, later)
    )
    lean = _lean_factors(reference_dir, "aapl")
    lean_ratio = _lean_factor_on(lean, day) / _lean_factor_on(lean, later)
    assert ours_ratio == pytest.approx(lean_ratio, rel=2e-7)


def test_adjusted_series_keeps_raw_and_joins_the_split(
    aapl_2020: list[PriceBar], yahoo_actions: tuple[CorporateAction, ...], recording: Recording
) -> None:
    series = adjust(aapl_2020, yahoo_actions)
    raw = {b.trading_date: b for b in series.raw}
    split = {b.trading_date: b for b in series.split_adjusted}
    full = {b.trading_date: b for b in series.fully_adjusted}
    assert raw[date(2020, 8, 28)].close == 499.23  # as traded
    assert split[date(2020, 8, 28)].close == pytest.approx(124.8075)
    assert split[date(2020, 8, 28)].volume == pytest.approx(raw[date(2020, 8, 28)].volume * 4)
    # After the last action nothing changes.
    assert full[date(2020, 12, 1)].close == raw[date(2020, 12, 1)].close
    # Split-adjusted Lean closes equal Yahoo's (split-adjusted) closes on every shared day.
    yahoo = parse_chart(
        recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    )
    for bar in yahoo.bars:
        assert split[bar.trading_date].close == pytest.approx(bar.close, abs=0.006)
    # Yahoo's adjclose/close ratio steps by the same dividend factor at 2020-11-06.
    yb = {b.trading_date: b for b in yahoo.bars}
    step = (
        (yb[date(2020, 11, 5)].adj_close or 0)
        / yb[date(2020, 11, 5)].close
        / ((yb[date(2020, 11, 6)].adj_close or 0) / yb[date(2020, 11, 6)].close)
    )
    ours = full[date(2020, 11, 5)].adj_close
    assert ours is not None
    assert step == pytest.approx(ours / raw[date(2020, 11, 5)].close, rel=1e-4)


def test_split_adjusted_yahoo_bars_adjust_to_the_series_raw_lean_bars_give(
    aapl_2020: list[PriceBar], recording: Recording
) -> None:
    yahoo = parse_chart(
        recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    )
    assert yahoo.basis is PriceBasis.SPLIT
    from_raw = {
        b.trading_date: b for b in adjust_stored(aapl_2020, yahoo.actions, basis=PriceBasis.RAW)
    }
    from_split = adjust_stored(yahoo.bars, yahoo.actions, basis=PriceBasis.SPLIT)
    # Lean's raw closes are as traded (499.23 the day before the 4:1 split); Yahoo's are
    # already split: only the dividend is applied to them, and both land on one series.
    assert aapl_2020[0].close > 300 and max(b.close for b in yahoo.bars) < 140
    for bar in from_split:
        assert bar.close == pytest.approx(from_raw[bar.trading_date].close, abs=0.006)
    # A split+dividend adjusted series (this one, stored again) comes back as stored.
    fully = adjust_stored(from_split, yahoo.actions, basis=PriceBasis.SPLIT_DIVIDEND)
    assert [b.close for b in fully] == [b.close for b in from_split]


def test_a_series_mixing_bases_is_refused_with_its_runs(make_bar: BarFactory) -> None:
    stored = [
        (make_bar(day=date(2024, 1, 2), close=100.0, provider="alpaca"), PriceBasis.RAW),
        (make_bar(day=date(2024, 1, 3), close=50.0, provider="yahoo"), PriceBasis.SPLIT),
        (make_bar(day=date(2024, 1, 4), close=51.0, provider="polygon"), PriceBasis.SPLIT),
    ]
    with pytest.raises(MixedBasis) as refused:
        adjust_stored_series("ACME", stored, [])
    assert [(r.basis, r.first, r.last, r.providers) for r in refused.value.runs] == [
        (PriceBasis.RAW, date(2024, 1, 2), date(2024, 1, 2), ("alpaca",)),
        (PriceBasis.SPLIT, date(2024, 1, 3), date(2024, 1, 4), ("yahoo", "polygon")),
    ]
    assert "raw 2024-01-02..2024-01-02 (1 bars from alpaca)" in str(refused.value)
