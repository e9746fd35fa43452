"""What a refresh decides before any I/O: which ranges are missing, which fundamentals
provider to ask and which figure wins, and when the schedule fires."""

from __future__ import annotations

import datetime as dt

from pricing.domain.bars import FundamentalsSnapshot
from pricing.domain.calendars import calendar_code_for, session_calendar
from pricing.domain.coverage import DateRange, missing_ranges
from pricing.domain.fundamentals import Observation, combine, next_provider_to_ask
from pricing.domain.schedule import next_refresh

UTC = dt.UTC
NOW = dt.datetime(2024, 3, 28, 22, 0, tzinfo=UTC)
TTL = dt.timedelta(hours=24)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_missing_ranges_span_holidays_and_skip_stored_sessions() -> None:
    sessions = session_calendar("XNYS").sessions(d("2024-03-25"), d("2024-04-05"))
    stored = {d("2024-03-26"), d("2024-03-27")}
    # 2024-03-29 is Good Friday: 03-28 and 04-01 are one run, not two requests.
    assert missing_ranges(sessions, stored) == [
        DateRange(d("2024-03-25"), d("2024-03-25")),
        DateRange(d("2024-03-28"), d("2024-04-05")),
    ]
    assert missing_ranges(sessions, set(sessions)) == []


def test_many_holes_become_one_request() -> None:
    sessions = session_calendar("XNYS").sessions(d("2024-01-02"), d("2024-03-28"))
    stored = set(sessions[::2])
    assert missing_ranges(sessions, stored, max_ranges=8) == [
        DateRange(sessions[1], sessions[-1] if sessions[-1] not in stored else sessions[-2])
    ]


def test_figi_exchange_codes_pick_the_exchange_calendar() -> None:
    assert calendar_code_for(figi_exchange="US") == "XNYS"
    assert calendar_code_for(figi_exchange="LN") == "XLON"
    assert calendar_code_for(figi_exchange="GY") == "XETR"
    assert calendar_code_for(figi_exchange=None) == "XNYS"


def observed(
    provider: str, *, shares: float | None, cap: float | None, age_h: float
) -> Observation:
    snapshot = FundamentalsSnapshot(
        symbol="ACME",
        as_of=d("2024-03-28"),
        provider=provider,
        shares_outstanding=shares,
        market_cap=cap,
    )
    return Observation(snapshot, NOW - dt.timedelta(hours=age_h))


def test_each_field_comes_from_the_best_fresh_provider() -> None:
    obs = [
        observed("fmp", shares=None, cap=300.0, age_h=1),
        observed("polygon", shares=9.0, cap=290.0, age_h=30),  # stale: ignored
        observed("alphavantage", shares=10.0, cap=310.0, age_h=2),
    ]
    view = combine(obs, priority=["fmp", "polygon", "alphavantage"], ttl=TTL, now=NOW)
    assert view is not None
    assert (view.market_cap, view.market_cap_source) == (300.0, "fmp")
    assert (view.shares_outstanding, view.shares_source) == (10.0, "alphavantage")
    assert view.source == "alphavantage+fmp"
    assert combine(obs, priority=["polygon"], ttl=TTL, now=NOW) is None


def test_providers_are_asked_in_priority_order_until_both_fields_are_fresh() -> None:
    priority = ["fmp", "polygon", "alphavantage"]
    fmp_only = [observed("fmp", shares=None, cap=300.0, age_h=1)]
    assert next_provider_to_ask([], priority=priority, ttl=TTL, now=NOW) == "fmp"
    # fmp is fresh but has no share count: the next provider is asked.
    assert next_provider_to_ask(fmp_only, priority=priority, ttl=TTL, now=NOW) == "polygon"
    assert (
        next_provider_to_ask(fmp_only, priority=priority, ttl=TTL, now=NOW, failed={"polygon"})
        == "alphavantage"
    )
    both = [*fmp_only, observed("polygon", shares=9.0, cap=None, age_h=5)]
    assert next_provider_to_ask(both, priority=priority, ttl=TTL, now=NOW) is None
    stale = [observed("fmp", shares=1.0, cap=2.0, age_h=25)]
    assert next_provider_to_ask(stale, priority=priority, ttl=TTL, now=NOW) == "fmp"


def test_schedule_fires_after_each_exchange_close_including_early_closes() -> None:
    nyse, london = session_calendar("XNYS"), session_calendar("XLON")
    delay = dt.timedelta(minutes=30)
    # Thursday 2024-03-28 12:00 UTC: London closes 16:30 UTC, New York 20:00 UTC (EDT).
    noon = dt.datetime(2024, 3, 28, 12, 0, tzinfo=UTC)
    first = next_refresh([nyse, london], now=noon, delay=delay)
    assert first is not None
    assert (first.exchange, first.session, first.at) == (
        "XLON",
        d("2024-03-28"),
        dt.datetime(2024, 3, 28, 16, 30, tzinfo=UTC) + delay,
    )
    after = next_refresh([nyse], now=first.at, delay=delay)
    assert after is not None and after.at == dt.datetime(2024, 3, 28, 20, 30, tzinfo=UTC)
    # After Thursday's close, Good Friday is skipped: the next is Monday 2024-04-01.
    weekend = next_refresh([nyse], now=after.at, delay=delay)
    assert weekend is not None and weekend.session == d("2024-04-01")
    # The day after Thanksgiving 2024 the NYSE closes at 13:00 New York (18:00 UTC).
    black_friday = next_refresh(
        [nyse], now=dt.datetime(2024, 11, 29, 12, 0, tzinfo=UTC), delay=delay
    )
    assert black_friday is not None
    assert black_friday.at == dt.datetime(2024, 11, 29, 18, 30, tzinfo=UTC)
