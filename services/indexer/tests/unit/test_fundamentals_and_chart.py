"""Shares outstanding from fundamentals observations, and the chart's scales."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from indexer.chart import ChartSeries, nice_ticks, rebased, render_svg
from indexer.domain.fundamentals import FundamentalsObservation, shares_outstanding_records
from indexer.domain.panel import Panel, as_dates

DAYS = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5)]


def test_market_cap_becomes_shares_at_the_close_in_force() -> None:
    closes = Panel(
        as_dates(DAYS), ("X", "Y"), np.asarray([[10.0, np.nan], [20.0, 40.0], [25.0, 50.0]])
    )
    observations = [
        FundamentalsObservation(date(2024, 1, 2), "X", 1e6, 5e9),  # reported shares win
        FundamentalsObservation(date(2024, 1, 4), "X", None, 4e8),  # a holiday: 1-03 close
        FundamentalsObservation(date(2024, 1, 2), "Y", None, 1e9),  # before Y's first close
        FundamentalsObservation(date(2024, 1, 5), "Y", None, 1e9),
        FundamentalsObservation(date(2024, 1, 5), "Z", None, 1e9),  # no closes at all
        FundamentalsObservation(date(2024, 1, 5), "X", -5.0, None),  # unusable
    ]
    assert shares_outstanding_records(observations, closes) == [
        (date(2024, 1, 2), "X", 1e6),
        (date(2024, 1, 4), "X", 4e8 / 20.0),
        (date(2024, 1, 5), "Y", 1e9 / 50.0),
    ]


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(93.2, 117.9) == [90.0, 95.0, 100.0, 105.0, 110.0, 115.0, 120.0]
    assert nice_ticks(0.013, 0.051) == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    flat = nice_ticks(100.0, 100.0)
    assert flat[0] <= 100.0 < flat[-1]


def test_rebasing_needs_a_value_on_the_start_date() -> None:
    series = ChartSeries("x", DAYS, [50.0, 55.0, 60.0])
    assert rebased(series, DAYS[1]).values == pytest.approx([100.0, 60.0 / 55.0 * 100.0])
    with pytest.raises(ValueError, match="no value on 2024-01-04"):
        rebased(series, date(2024, 1, 4))


def test_names_are_escaped_in_the_svg() -> None:
    svg = render_svg([ChartSeries("a<b & c", DAYS, [1.0, 2.0, 3.0])], title="t", y_label="y")
    assert "a&lt;b &amp; c" in svg and "a<b" not in svg
