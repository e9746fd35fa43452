"""Intraday refresh decisions before storage: which sessions are stored through their
close, and 5m bars rolled up from 1m bars when no provider serves 5m."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from typer.testing import CliRunner

from pricing.domain.bars import FetchResult, Interval, PriceBar
from pricing.domain.calendars import session_calendar
from pricing.domain.chain import Outcome, ProviderChain
from pricing.domain.coverage import DateRange, Session, complete_sessions
from pricing.domain.errors import ProviderError
from pricing.intraday import fetch_interval, sessions_of
from pricing.service import validator
from secmaster.cli import build_app

XNYS = session_calendar("XNYS")
DAY = date(2024, 3, 14)  # a Thursday, EDT: the session is 13:30Z-20:00Z
OPEN = datetime(2024, 3, 14, 13, 30, tzinfo=UTC)


def minute_bars(symbol: str, provider: str, start: datetime, count: int) -> list[PriceBar]:
    return [
        PriceBar(
            symbol=symbol,
            trading_date=DAY,
            open=100 + k / 10,
            high=100 + k / 10 + 0.3,
            low=100 + k / 10 - 0.2,
            close=100 + (k + 1) / 10,
            volume=float(10 + k),
            provider=provider,
            interval=Interval.M1,
            ts=start + timedelta(minutes=k),
        )
        for k in range(count)
    ]


class MinutesOnly:
    """A provider keeping only 1-minute bars (and refusing other steps, as Stooq and the
    local cache without a 5m folder do)."""

    def __init__(self, name: str, bars: list[PriceBar]) -> None:
        self.name = name
        self.bars = bars
        self.asked: list[Interval] = []

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        self.asked.append(interval)
        if interval is not Interval.M1:
            raise ProviderError(self.name, f"{interval} not served")
        return FetchResult(symbol, self.name, interval, tuple(self.bars))


def test_a_session_is_complete_once_its_last_bar_is_stored() -> None:
    sessions = sessions_of(XNYS, date(2024, 3, 13), date(2024, 3, 15))
    assert [s.day for s in sessions] == [date(2024, 3, d) for d in (13, 14, 15)]
    step = timedelta(minutes=5)
    stored = [
        # 03-13: the 15:55 New York bar (19:55Z) is there, with holes earlier: complete.
        datetime(2024, 3, 13, 13, 30, tzinfo=UTC),
        datetime(2024, 3, 13, 19, 55, tzinfo=UTC),
        # 03-14: stops at noon New York, as a refresh during the session leaves it.
        datetime(2024, 3, 14, 16, 0, tzinfo=UTC),
    ]
    assert complete_sessions(sessions, stored, step=step) == {date(2024, 3, 13)}
    early = [Session(date(2024, 11, 29), *XNYS.open_close(date(2024, 11, 29)))]
    # The day after Thanksgiving closes at 13:00 New York (18:00Z): 12:55 is the last bar.
    last = datetime(2024, 11, 29, 17, 55, tzinfo=UTC)
    assert complete_sessions(early, [last], step=step) == {date(2024, 11, 29)}


async def test_5m_bars_are_rolled_up_from_1m_when_no_provider_serves_5m() -> None:
    # 30 minutes from the open, plus 2 minutes of a bucket still forming.
    source = MinutesOnly("local", minute_bars("ACME", "local", OPEN, 32))
    chain = ProviderChain([source], validate=validator)

    got = await fetch_interval(
        chain=chain,
        symbol="ACME",
        wanted=DateRange(DAY, DAY),
        interval=Interval.M5,
        calendar=XNYS,
    )

    assert source.asked == [Interval.M5, Interval.M1]
    assert [(a.provider, a.outcome) for a in got.attempts] == [
        ("local", Outcome.ERROR),
        ("local[1m]", Outcome.OK),
    ]
    assert got.aggregated_from is Interval.M1 and got.provider == "local"
    assert [b.ts for b in got.accepted] == [OPEN + timedelta(minutes=5 * i) for i in range(6)]
    first = got.accepted[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        100.0,
        100.4 + 0.3,
        100.0 - 0.2,
        100.5,
        10 + 11 + 12 + 13 + 14,
    )
    assert all(b.interval is Interval.M5 and b.provider == "local" for b in got.accepted)
    # 10:00-10:05 New York has only two minutes so far: quarantined as partial, not stored.
    assert [(r.bar.ts, str(r.reason)) for r in got.rejected] == [
        (OPEN + timedelta(minutes=30), "partial_bar")
    ]


async def test_a_provider_serving_the_interval_is_used_as_is() -> None:
    native = minute_bars("ACME", "alpaca", OPEN, 3)
    five = [
        replace(b, interval=Interval.M5, ts=OPEN + timedelta(minutes=5 * i))
        for i, b in enumerate(native)
    ]

    class Native:
        name = "alpaca"

        async def fetch(
            self, *, symbol: str, start: date, end: date, interval: Interval
        ) -> FetchResult:
            return FetchResult(symbol, self.name, interval, tuple(five))

    got = await fetch_interval(
        chain=ProviderChain([Native()], validate=validator),
        symbol="ACME",
        wanted=DateRange(DAY, DAY),
        interval=Interval.M5,
        calendar=XNYS,
    )
    assert got.aggregated_from is None
    assert got.accepted == tuple(five)


def test_refresh_refuses_an_interval_the_bars_topic_does_not_carry() -> None:
    result = CliRunner().invoke(build_app(), ["prices", "refresh", "--interval", "30m"])
    assert result.exit_code != 0
    said = " ".join(result.output.replace("│", " ").split())  # rich wraps the error box
    assert "unknown interval '30m'; choose one of 1d, 1m, 5m, 15m, 1h" in said
