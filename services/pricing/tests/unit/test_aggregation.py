"""1-minute bars rolled up to 5m/15m/1h/1d inside XNYS sessions, early closes included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pricing.domain.aggregation import aggregate_minutes
from pricing.domain.bars import Interval, PriceBar
from pricing.domain.calendars import session_calendar

from .conftest import BarFactory


def _minutes(make_bar: BarFactory, day: date, start: datetime, count: int) -> list[PriceBar]:
    """`count` minute bars from `start` (UTC); bar k closes at 100 + k/100 with volume k+1."""
    return [
        make_bar(
            day,
            close=100 + k / 100,
            open=100 + (k - 1) / 100,
            volume=float(k + 1),
            interval=Interval.M1,
            ts=start + timedelta(minutes=k),
        )
        for k in range(count)
    ]


@pytest.fixture
def full_day(make_bar: BarFactory) -> list[PriceBar]:
    # 2024-03-15 (EDT): session 13:30Z-20:00Z = 390 minutes; plus 10 pre-market minutes.
    return _minutes(make_bar, date(2024, 3, 15), datetime(2024, 3, 15, 13, 20, tzinfo=UTC), 400)


def test_hourly_buckets_anchor_at_the_open_and_cut_at_the_close(full_day: list[PriceBar]) -> None:
    result = aggregate_minutes(full_day, target=Interval.H1, calendar=session_calendar("XNYS"))
    starts = [b.ts.strftime("%H:%M") for b in result.bars if b.ts]
    assert starts == ["13:30", "14:30", "15:30", "16:30", "17:30", "18:30", "19:30"]
    assert len(result.outside_session) == 10  # the pre-market minutes are kept apart
    first = result.bars[0]
    # Minutes 10..69 of the input: open of minute 10, close of minute 69, volumes 11..70.
    assert (first.open, first.close) == (100.09, 100.69)
    assert first.volume == sum(range(11, 71))
    assert not any(b.is_partial for b in result.bars)


def test_daily_bar_from_minutes(full_day: list[PriceBar]) -> None:
    (day,) = aggregate_minutes(full_day, target=Interval.D1, calendar=session_calendar("XNYS")).bars
    session = full_day[10:]
    assert day.ts is None and day.trading_date == date(2024, 3, 15)
    assert (day.open, day.close) == (session[0].open, session[-1].close)
    assert day.high == max(b.high for b in session) and day.low == min(b.low for b in session)
    assert day.volume == sum(b.volume for b in session)


def test_early_close_day_after_thanksgiving(make_bar: BarFactory) -> None:
    # 2020-11-27 closes at 13:00 EST (18:00Z); feed minutes until 19:00Z anyway.
    minutes = _minutes(
        make_bar, date(2020, 11, 27), datetime(2020, 11, 27, 14, 30, tzinfo=UTC), 270
    )
    result = aggregate_minutes(minutes, target=Interval.H1, calendar=session_calendar("XNYS"))
    assert [b.ts.strftime("%H:%M") for b in result.bars if b.ts] == [
        "14:30",
        "15:30",
        "16:30",
        "17:30",
    ]
    assert result.bars[-1].volume == sum(range(181, 211))  # 17:30-18:00, 30 minutes only
    assert len(result.outside_session) == 60


def test_five_and_fifteen_minute_buckets_and_a_partial_last_one(full_day: list[PriceBar]) -> None:
    cal = session_calendar("XNYS")
    five = aggregate_minutes(full_day, target=Interval.M5, calendar=cal).bars
    fifteen = aggregate_minutes(full_day, target=Interval.M15, calendar=cal).bars
    assert (len(five), len(fifteen)) == (78, 26)
    # Data that stops at 13:52Z leaves the 13:45-14:00 bucket still forming.
    stopped = [b for b in full_day if b.ts and b.ts < datetime(2024, 3, 15, 13, 53, tzinfo=UTC)]
    partial = aggregate_minutes(stopped, target=Interval.M15, calendar=cal).bars
    assert [b.is_partial for b in partial] == [False, True]
    assert sum(b.volume for b in partial) == sum(b.volume for b in stopped[10:])
