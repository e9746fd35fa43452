"""Split/dividend adjustment agrees with QuantConnect Lean's factor file for AAPL, using
Lean's raw prices and the actions from Yahoo's real recording (three sources, one answer)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pricing.adapters.providers.yahoo import parse_chart
from pricing.domain.adjustment import adjust, factor_on, factor_rows
from pricing.domain.bars import CorporateAction, PriceBar
from pricing.domain.timestamps import compact_date

from .conftest import Recording

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
