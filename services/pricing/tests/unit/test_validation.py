"""Series validation on real Lean prices (clean) and on the same series with each kind of
defect put in: every bad bar comes back with its reason, gaps are found, the score drops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pricing.adapters.providers.yahoo import parse_chart
from pricing.domain.bars import Interval, PriceBar
from pricing.domain.calendars import session_calendar
from pricing.domain.validation import RejectReason, validate_series

from .conftest import BarFactory, Recording

LeanRows = Callable[[str], list[tuple[date, float, float, float, float, int]]]


@pytest.fixture(scope="module")
def spy_2019(lean_raw_closes: LeanRows) -> list[PriceBar]:
    return [
        PriceBar("SPY", d, o, h, lo, c, float(v), provider="lean")
        for d, o, h, lo, c, v in lean_raw_closes("spy")
        if d.year == 2019
    ]


def test_real_lean_year_is_clean_and_complete(spy_2019: list[PriceBar]) -> None:
    quality = validate_series(spy_2019, calendar=session_calendar("XNYS"))
    assert len(spy_2019) == 252
    assert quality.rejected == ()
    assert quality.missing_sessions == ()
    assert quality.expected_sessions == 252
    assert quality.score == 1.0


def test_each_defect_is_rejected_with_its_reason(spy_2019: list[PriceBar]) -> None:
    bars = list(spy_2019)
    by_date = {b.trading_date: i for i, b in enumerate(bars)}

    def edit(day: date, **changes: object) -> None:
        bars[by_date[day]] = replace(bars[by_date[day]], **changes)  # type: ignore[arg-type]

    spy = bars[by_date[date(2019, 3, 1)]]
    edit(
        date(2019, 3, 1),
        open=spy.open * 100,
        high=spy.high * 100,
        low=spy.low * 100,
        close=spy.close * 100,
    )
    edit(date(2019, 4, 1), high=bars[by_date[date(2019, 4, 1)]].low - 1)
    edit(date(2019, 5, 1), volume=-5.0)
    edit(date(2019, 6, 3), low=0.0)
    edit(date(2019, 7, 1), volume=0.0)
    edit(date(2019, 12, 31), is_partial=True)
    bars.append(bars[by_date[date(2019, 8, 1)]])  # same day twice
    bars.append(replace(bars[0], trading_date=date(2019, 1, 5)))  # a Saturday
    del bars[by_date[date(2019, 9, 3)]]  # a missing session

    quality = validate_series(bars, calendar=session_calendar("XNYS"))
    reasons = {(r.bar.trading_date, r.reason) for r in quality.rejected}
    assert reasons == {
        (date(2019, 3, 1), RejectReason.UNIT_ERROR_100X),
        (date(2019, 4, 1), RejectReason.OHLC_INCONSISTENT),
        (date(2019, 5, 1), RejectReason.NEGATIVE_VOLUME),
        (date(2019, 6, 3), RejectReason.NON_POSITIVE_PRICE),
        (date(2019, 12, 31), RejectReason.PARTIAL_BAR),
        (date(2019, 8, 1), RejectReason.DUPLICATE_TIMESTAMP),
        (date(2019, 1, 5), RejectReason.NOT_A_SESSION),
    }
    assert quality.zero_volume == (date(2019, 7, 1),)
    # The rejected days are gaps now too, and so is the deleted one.
    assert set(quality.missing_sessions) == {
        date(2019, 3, 1),
        date(2019, 4, 1),
        date(2019, 5, 1),
        date(2019, 6, 3),
        date(2019, 9, 3),
        date(2019, 12, 31),
    }
    assert len(quality.accepted) == 252 - 6
    # (246 accepted - 0.5 for the zero-volume bar) / 253 bars received.
    assert quality.score == pytest.approx((246 - 0.5) / 253)


def test_partial_bars_pass_when_asked(make_bar: BarFactory) -> None:
    bars = [make_bar(date(2024, 1, 2)), make_bar(date(2024, 1, 3), is_partial=True)]
    assert len(validate_series(bars).rejected) == 1
    assert validate_series(bars, accept_partial=True).rejected == ()


def test_intraday_bars_outside_the_session_are_rejected(make_bar: BarFactory) -> None:
    day = date(2024, 3, 15)  # 09:30 EDT = 13:30Z
    inside = make_bar(day, interval=Interval.M1, ts=datetime(2024, 3, 15, 13, 30, tzinfo=UTC))
    before = make_bar(day, interval=Interval.M1, ts=datetime(2024, 3, 15, 13, 29, tzinfo=UTC))
    quality = validate_series([inside, before], calendar=session_calendar("XNYS"))
    assert quality.accepted == (inside,)
    assert [r.reason for r in quality.rejected] == [RejectReason.OUTSIDE_SESSION]
    assert (
        validate_series(
            [inside, before], calendar=session_calendar("XNYS"), regular_hours_only=False
        ).rejected
        == ()
    )


def test_yahoo_recordings_validate_against_their_own_exchanges(recording: Recording) -> None:
    split = parse_chart(
        recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    )
    quality = validate_series(split.bars, calendar=session_calendar("XNAS"))
    assert (len(quality.accepted), quality.rejected, quality.missing_sessions) == (49, (), ())
    btc = parse_chart(recording("yahoo/chart_BTC-USD_1d_2020-01-01_2020-01-03_UTC.json"))
    # New Year's Day is a session on the 24/7 calendar and not on XNYS.
    assert validate_series(btc.bars, calendar=session_calendar("24/7")).score == 1.0
    nyse = validate_series(btc.bars, calendar=session_calendar("XNYS"))
    assert [(r.bar.trading_date, r.reason) for r in nyse.rejected] == [
        (date(2020, 1, 1), RejectReason.NOT_A_SESSION)
    ]
    berlin = parse_chart(recording("yahoo/chart_WSU.DE_1d_2023-08-04_2023-08-09_Berlin.json"))
    xetra = validate_series(
        berlin.bars, calendar=session_calendar("XETR"), start=date(2023, 8, 4), end=date(2023, 8, 9)
    )
    assert xetra.missing_sessions == (date(2023, 8, 9),)
