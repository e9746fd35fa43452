"""Adapters end to end through an injected transport or the emulator socket: request
shape, error mapping (HTTP 200 error bodies included), limiter and breaker behaviour."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pricing.adapters.providers import (
    AlphaVantageProvider,
    FmpProvider,
    LocalFilesProvider,
    SandboxProvider,
    StooqProvider,
    TwelveDataProvider,
    YahooProvider,
)
from pricing.adapters.providers.stooq import parse_csv
from pricing.domain.bars import Interval
from pricing.domain.errors import EmptyData, ProviderError, RateLimited
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.limiter import WindowLimiter

D1 = Interval.D1


def _client(answer: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_sandbox_provider_and_emulator_serve_the_same_series(
    emulator_url: str, fast_limiter: WindowLimiter
) -> None:
    start, end = date(2023, 12, 20), date(2024, 1, 10)
    sandbox = await SandboxProvider().fetch(symbol="msft", start=start, end=end, interval=D1)
    async with httpx.AsyncClient() as client:
        yahoo = await YahooProvider(
            client=client, base_url=emulator_url, limiter=fast_limiter
        ).fetch(symbol="MSFT", start=start, end=end, interval=D1)
    assert sandbox.synthetic and all(b.synthetic for b in sandbox.bars)
    # 16 weekdays less Christmas and New Year's Day.
    assert len(sandbox.bars) == 14
    assert [(b.trading_date, b.open, b.high, b.low, b.close, b.volume) for b in sandbox.bars] == [
        (b.trading_date, b.open, b.high, b.low, b.close, b.volume) for b in yahoo.bars
    ]
    again = await SandboxProvider().fetch(symbol="MSFT", start=start, end=end, interval=D1)
    assert again.bars == sandbox.bars


async def test_yahoo_429_penalizes_the_limiter_and_counts_against_the_breaker() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, text="Edge: Too Many Requests", headers={"Retry-After": "7"})

    limiter = WindowLimiter(100, 1.0)
    breaker = CircuitBreaker("test.yahoo", failure_threshold=2, reset_timeout_s=60)
    async with _client(answer) as client:
        yahoo = YahooProvider(client=client, limiter=limiter, breaker=breaker)
        with pytest.raises(RateLimited) as caught:
            await yahoo.fetch(
                symbol="AAPL", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1
            )
        assert caught.value.retry_after == 7.0
        # The limiter now holds the next call back by about the server's wait.
        assert limiter._wait_needed(__import__("time").monotonic()) == pytest.approx(7.0, abs=0.5)
        limiter.penalize(0.0)
        with pytest.raises(RateLimited):
            await yahoo.fetch(
                symbol="AAPL", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1
            )
        with pytest.raises(ProviderError, match="is open"):
            await yahoo.fetch(
                symbol="AAPL", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1
            )


async def test_yahoo_outage_page_with_http_200_is_an_error(fast_limiter: WindowLimiter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html><body>Will be right back...</body></html>")

    async with _client(answer) as client:
        with pytest.raises(ProviderError, match="outage"):
            await YahooProvider(client=client, limiter=fast_limiter).fetch(
                symbol="AAPL", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1
            )


async def test_alpha_vantage_daily_request_and_rate_limit_body(fast_limiter: WindowLimiter) -> None:
    seen: list[httpx.Request] = []
    bodies = [
        {
            "Information": "Thank you for using Alpha Vantage! Please consider spreading "
            "out your free API requests more sparingly (1 request per second)."
        },
        {
            "Meta Data": {
                "2. Symbol": "IBM",
                "3. Last Refreshed": "2024-01-03",
                "5. Time Zone": "US/Eastern",
            },
            "Time Series (Daily)": {
                "2024-01-03": {
                    "1. open": "161.0000",
                    "2. high": "161.7300",
                    "3. low": "160.0800",
                    "4. close": "160.1000",
                    "5. volume": "4086133",
                },
                "2024-01-02": {
                    "1. open": "162.8300",
                    "2. high": "163.2900",
                    "3. low": "160.3800",
                    "4. close": "161.1",
                    "5. volume": "3825045",
                },
            },
        },
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=bodies[len(seen) - 1])

    async with _client(answer) as client:
        av = AlphaVantageProvider(client=client, api_key="KEY", limiter=fast_limiter)
        with pytest.raises(RateLimited) as caught:
            await av.fetch(symbol="IBM", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1)
        assert caught.value.retry_after == 1.0
        result = await av.fetch(
            symbol="IBM", start=date(2024, 1, 2), end=date(2024, 1, 3), interval=D1
        )
    assert seen[1].url.params["function"] == "TIME_SERIES_DAILY"
    assert seen[1].url.params["apikey"] == "KEY"
    assert [(b.trading_date, b.close, b.volume) for b in result.bars] == [
        (date(2024, 1, 2), 161.1, 3_825_045),
        (date(2024, 1, 3), 160.1, 4_086_133),
    ]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, {"Error Message": "Limit Reach . Please upgrade your plan"}, RateLimited),
        (200, {"Error Message": "Limit Reach . Please upgrade your plan"}, RateLimited),
        (401, {"Error Message": "Invalid API KEY. Please retry"}, ProviderError),
        (200, {"Error Message": "Invalid API KEY. Please retry"}, ProviderError),
        (403, {"Error Message": "Legacy Endpoint : Due to Legacy endpoints"}, ProviderError),
        (
            402,
            "Premium Query Parameter: This value set for 'symbol' is not available",
            ProviderError,
        ),
    ],
)
async def test_fmp_errors_with_and_without_matching_status(
    status: int, body: Any, expected: type[Exception], fast_limiter: WindowLimiter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async with _client(answer) as client:
        with pytest.raises(expected):
            await FmpProvider(client=client, limiter=fast_limiter).fetch(
                symbol="AAPL", start=date(2023, 1, 3), end=date(2023, 1, 4), interval=D1
            )


async def test_fmp_newest_first_eod_and_unknown_symbol(fast_limiter: WindowLimiter) -> None:
    rows = [
        {
            "symbol": "AAPL",
            "date": "2023-01-04",
            "open": 126.89,
            "high": 128.66,
            "low": 125.08,
            "close": 126.36,
            "volume": 89113633,
        },
        {
            "symbol": "AAPL",
            "date": "2023-01-03",
            "open": 130.28,
            "high": 130.9,
            "low": 124.17,
            "close": 125.07,
            "volume": 112117471,
        },
    ]
    bodies: list[Any] = [rows, []]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=bodies.pop(0))

    async with _client(answer) as client:
        fmp = FmpProvider(client=client, api_key="k", limiter=fast_limiter)
        result = await fmp.fetch(
            symbol="AAPL", start=date(2023, 1, 3), end=date(2023, 1, 4), interval=D1
        )
        empty = await fmp.fetch(
            symbol="NOPE", start=date(2023, 1, 3), end=date(2023, 1, 4), interval=D1
        )
    assert [(b.trading_date, b.volume, b.adj_close) for b in result.bars] == [
        (date(2023, 1, 3), 112_117_471, None),
        (date(2023, 1, 4), 89_113_633, None),
    ]
    assert empty.bars == ()


def test_stooq_bodies_checked_for_the_csv_header() -> None:
    with pytest.raises(ProviderError, match="API key"):
        parse_csv(
            "<html><body>Get your apikey at https://stooq.com/q/d/?s=spy.us&get_apikey</body></html>",
            symbol="SPY",
        )
    with pytest.raises(ProviderError, match="HTML"):
        parse_csv("<!DOCTYPE html><html><script>sha256 proof of work</script></html>", symbol="SPY")
    with pytest.raises(EmptyData):
        parse_csv("No data", symbol="SPY")
    with pytest.raises(RateLimited):
        parse_csv("Exceeded the daily hits limit", symbol="SPY")
    csv_text = (
        "Date,Open,High,Low,Close,Volume\r\n"
        "2026-02-06,689.27,692.61,686.4,690.62,61021230\r\n"
        "2026-02-09,690.1,691.0,688.2,689.5,30211002\r\n"
    )
    during = datetime(2026, 2, 9, 17, 0, tzinfo=UTC)  # 12:00 in New York
    bars = parse_csv(csv_text, symbol="SPY", now=during).bars
    assert [(b.trading_date, b.close, b.is_partial) for b in bars] == [
        (date(2026, 2, 6), 690.62, False),
        (date(2026, 2, 9), 689.5, True),
    ]
    after = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)
    assert not parse_csv(csv_text, symbol="SPY", now=after).bars[-1].is_partial


async def test_stooq_request_shape(fast_limiter: WindowLimiter) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            text="Date,Open,High,Low,Close,Volume\r\n2018-02-26,271.1,274.0,270.0,274.04,1000\r\n",
        )

    async with _client(answer) as client:
        stooq = StooqProvider(client=client, api_key="K", limiter=fast_limiter)
        result = await stooq.fetch(
            symbol="SPY", start=date(2018, 2, 26), end=date(2018, 2, 26), interval=D1
        )
    assert dict(seen[0].url.params) == {
        "s": "spy.us",
        "i": "d",
        "d1": "20180226",
        "d2": "20180226",
        "apikey": "K",
    }
    assert result.bars[0].adj_close == 274.04


async def test_twelvedata_error_inside_http_200_and_header_auth(
    fast_limiter: WindowLimiter,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "code": 429,
                "message": "You have run out of API credits for the current minute.",
                "status": "error",
            },
        )

    async with _client(answer) as client:
        with pytest.raises(RateLimited) as caught:
            await TwelveDataProvider(client=client, api_key="KEY", limiter=fast_limiter).fetch(
                symbol="AAPL", start=date(2024, 11, 22), end=date(2024, 11, 22), interval=D1
            )
    assert caught.value.retry_after == 60.0
    assert seen[0].headers["Authorization"] == "apikey KEY"
    assert "apikey" not in seen[0].url.params


async def test_local_files_csv_and_parquet_in_the_ohlcv_layout(tmp_path: Path) -> None:
    daily = tmp_path / "ohlcv" / "AAPL" / "1d"
    daily.mkdir(parents=True)
    (daily / "2020.csv").write_text(
        "date,open,high,low,close,adj_close,volume\n"
        "2020-01-02,296.24,300.6,295.19,300.35,,33870100\n"
        "2020-01-03,297.15,300.58,296.5,297.43,290.1,36580700\n"
    )
    minute = tmp_path / "ohlcv" / "AAPL" / "1m"
    minute.mkdir(parents=True)
    table = pa.table(
        {
            "timestamp": [
                datetime(2020, 1, 2, 14, 30, tzinfo=UTC),
                datetime(2020, 1, 2, 14, 31, tzinfo=UTC),
            ],
            "open": [296.24, 296.9],
            "high": [297.0, 297.2],
            "low": [296.0, 296.7],
            "close": [296.9, 297.1],
            "volume": [500_000, 250_000],
        }
    )
    pq.write_table(table, minute / "2020-01-02.parquet")
    local = LocalFilesProvider(root=tmp_path)
    days = await local.fetch(
        symbol="AAPL", start=date(2020, 1, 1), end=date(2020, 1, 2), interval=D1
    )
    assert [(b.trading_date, b.close, b.adj_close) for b in days.bars] == [
        (date(2020, 1, 2), 300.35, None)
    ]
    minutes = await local.fetch(
        symbol="aapl", start=date(2020, 1, 2), end=date(2020, 1, 2), interval=Interval.M1
    )
    assert [b.ts for b in minutes.bars] == [
        datetime(2020, 1, 2, 14, 30, tzinfo=UTC),
        datetime(2020, 1, 2, 14, 31, tzinfo=UTC),
    ]
    with pytest.raises(ProviderError, match="ohlcv/MSFT/1d"):
        await local.fetch(symbol="MSFT", start=date(2020, 1, 2), end=date(2020, 1, 2), interval=D1)
