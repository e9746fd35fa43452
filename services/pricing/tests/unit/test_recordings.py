"""Every real provider recording in reference/providers parses to the right bars, dates
and actions (counts and specific values asserted)."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from pricing.adapters.providers.alpaca import AlpacaProvider, bars_to_result, parse_bars_page
from pricing.adapters.providers.alphavantage import classify_body, parse_overview, parse_time_series
from pricing.adapters.providers.polygon import (
    PolygonProvider,
    parse_aggregates,
    parse_dividends,
    parse_splits,
    parse_ticker_details,
)
from pricing.adapters.providers.twelvedata import error_from_body, parse_batch, parse_series
from pricing.adapters.providers.yahoo import parse_chart
from pricing.domain.bars import ActionType, Interval, PriceBasis
from pricing.domain.calendars import session_calendar
from pricing.domain.errors import EmptyData, ProviderError, RateLimited
from secmaster_common.limiter import WindowLimiter

from .conftest import Recording

# --- Yahoo chart v8 ----------------------------------------------------------------------


def test_yahoo_single_bar_maps_session_open_to_its_date(recording: Recording) -> None:
    result = parse_chart(recording("yahoo/chart_AAPL_1d_2020-01-01_2020-01-03.json"))
    assert [b.trading_date for b in result.bars] == [date(2020, 1, 2)]
    bar = result.bars[0]
    # float32 noise (75.0875015258789) is rounded back to the quoted price.
    assert (bar.open, bar.high, bar.low, bar.close) == (74.06, 75.15, 73.7975, 75.0875)
    assert bar.adj_close == 72.7161
    assert bar.volume == 135_480_400
    assert result.basis is PriceBasis.SPLIT
    assert result.exchange_timezone == "America/New_York"


def test_yahoo_split_and_dividend_events_and_dst_change(recording: Recording) -> None:
    result = parse_chart(
        recording("yahoo/chart_AAPL_1d_2020-08-31_2020-11-07_split4to1_dividend.json")
    )
    assert len(result.bars) == 49
    dates = [b.trading_date for b in result.bars]
    # Every NASDAQ session from the split day to the dividend day, once, in order; bars
    # stamped 13:30Z (EDT) before 2020-11-01 and 14:30Z (EST) after land on their dates.
    assert dates == session_calendar("XNAS").sessions(date(2020, 8, 31), date(2020, 11, 6))
    by_date = {b.trading_date: b for b in result.bars}
    assert by_date[date(2020, 10, 30)].close == 108.86
    assert by_date[date(2020, 11, 2)].close == 108.77
    assert by_date[date(2020, 11, 5)].close == 119.03
    assert by_date[date(2020, 8, 31)].volume == 225_702_700
    split, dividend = result.actions
    assert (split.type, split.ex_date, split.ratio) == (ActionType.SPLIT, date(2020, 8, 31), 4.0)
    assert (dividend.type, dividend.ex_date, dividend.amount) == (
        ActionType.DIVIDEND,
        date(2020, 11, 6),
        0.205,
    )


def test_yahoo_gmtoffset_at_recording_time_is_not_used(recording: Recording) -> None:
    # gmtoffset says -14400 (EDT, when recorded) for a February (EST) bar.
    result = parse_chart(recording("yahoo/chart_AAPL_1d_2022-02-22_EDT_gmtoffset.json"))
    assert [(b.trading_date, b.close, b.volume) for b in result.bars] == [
        (date(2022, 2, 22), 164.32, 91_162_800)
    ]


def test_yahoo_weekend_without_timestamp_key_is_empty_not_an_error(recording: Recording) -> None:
    result = parse_chart(
        recording("yahoo/chart_AAPL_1m_2025-02-01_weekend_empty.json"), interval=Interval.M1
    )
    assert result.bars == ()
    assert result.skipped == ()


def test_yahoo_btc_trades_on_new_years_day_in_utc(recording: Recording) -> None:
    result = parse_chart(recording("yahoo/chart_BTC-USD_1d_2020-01-01_2020-01-03_UTC.json"))
    assert [b.trading_date for b in result.bars] == [
        date(2020, 1, 1),
        date(2020, 1, 2),
        date(2020, 1, 3),
    ]
    assert [b.close for b in result.bars] == [7200.1743, 6985.4702, 7344.8843]
    assert result.bars[2].volume == 28_111_481_032


def test_yahoo_london_bar_in_pence(recording: Recording) -> None:
    result = parse_chart(recording("yahoo/chart_OCDO.L_1d_2020-01-01_2020-01-03_GBp_London.json"))
    assert result.currency == "GBp"
    assert result.exchange_timezone == "Europe/London"
    assert [(b.trading_date, b.open, b.close, b.volume) for b in result.bars] == [
        (date(2020, 1, 2), 1279.5, 1259.5, 728_520)
    ]


def test_yahoo_berlin_bars_skip_the_weekend(recording: Recording) -> None:
    result = parse_chart(recording("yahoo/chart_WSU.DE_1d_2023-08-04_2023-08-09_Berlin.json"))
    assert [(b.trading_date, b.close, b.volume) for b in result.bars] == [
        (date(2023, 8, 4), 34.45, 1251),
        (date(2023, 8, 7), 34.0, 336),
        (date(2023, 8, 8), 33.2, 10846),
    ]
    assert result.currency == "EUR"


def test_yahoo_nulls_become_skipped_rows_and_live_row_is_partial(recording: Recording) -> None:
    body: dict[str, Any] = recording("yahoo/chart_WSU.DE_1d_2023-08-04_2023-08-09_Berlin.json")
    result_body = body["chart"]["result"][0]
    result_body["indicators"]["quote"][0]["close"][1] = None
    # Pretend it was fetched during the 2023-08-08 session: the last bar is still forming.
    meta = result_body["meta"]
    meta["regularMarketTime"] = 1691500000  # 2023-08-08 13:06 UTC
    meta["currentTradingPeriod"]["regular"] = {"start": 1691478000, "end": 1691508600}
    result = parse_chart(body)
    assert [b.trading_date for b in result.bars] == [date(2023, 8, 4), date(2023, 8, 8)]
    assert [s.reason for s in result.skipped] == ["missing_price"]
    assert result.bars[-1].is_partial and not result.bars[0].is_partial


def test_yahoo_error_body_is_a_provider_error(errors_quoted: dict[str, Any]) -> None:
    not_found = next(e for e in errors_quoted["yahoo"] if e["http"] == 404)["body"]
    with pytest.raises(ProviderError, match="symbol may be delisted"):
        parse_chart(not_found)


# --- Alpaca v2 bars ----------------------------------------------------------------------


def test_alpaca_paginated_page_and_its_token(recording: Recording) -> None:
    page, token = parse_bars_page(
        recording("alpaca/v2_stocks_bars_AAPL_1Day_2022-02-01_limit2_paginated.json")
    )
    assert token is not None
    assert base64.b64decode(token) == b"AAPL|D|2022-02-02T05:00:00.000000000Z"
    result = bars_to_result("AAPL", page["AAPL"], Interval.D1)
    assert [(b.trading_date, b.close, b.volume) for b in result.bars] == [
        (date(2022, 2, 1), 174.61, 85_998_033),
        (date(2022, 2, 2), 175.84, 84_817_432),
    ]
    assert result.basis is PriceBasis.RAW


def test_alpaca_descending_edt_bars_come_out_ascending(recording: Recording) -> None:
    page, token = parse_bars_page(
        recording("alpaca/v2_stocks_bars_TSLA_1Day_2023-09_desc_limit3.json")
    )
    result = bars_to_result("TSLA", page["TSLA"], Interval.D1)
    # 04:00Z is New York midnight in summer time.
    assert [(b.trading_date, b.close) for b in result.bars] == [
        (date(2023, 9, 25), 246.99),
        (date(2023, 9, 26), 244.12),
        (date(2023, 9, 27), 240.5),
    ]
    assert token == "VFNMQXxEfDc1Mjc3NTc2MzYwMDAwMDAwMDA="


def test_alpaca_multi_symbol_and_empty_pages(recording: Recording) -> None:
    page, token = parse_bars_page(
        recording("alpaca/v2_stocks_bars_multi_AAPL_TSLA_1Day_2022-03-09.json")
    )
    assert token is None
    assert {s: [r["c"] for r in rows] for s, rows in page.items()} == {
        "AAPL": [162.95],
        "TSLA": [858.97],
    }
    assert parse_bars_page(recording("alpaca/v2_stocks_bars_empty.json")) == ({}, None)
    assert parse_bars_page({"bars": None, "symbol": "NOPE", "next_page_token": None}) == ({}, None)


async def test_alpaca_follows_page_tokens_until_an_empty_last_page(
    recording: Recording, fast_limiter: WindowLimiter
) -> None:
    pages = [
        recording("alpaca/v2_stocks_bars_AAPL_1Day_2022-02-01_limit2_paginated.json"),
        recording("alpaca/v2_stocks_bars_empty.json"),
    ]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[len(seen) - 1])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = AlpacaProvider(client=client, api_key="id:secret", limiter=fast_limiter)
        result = await provider.fetch(
            symbol="AAPL", start=date(2022, 2, 1), end=date(2022, 2, 2), interval=Interval.D1
        )
    assert [b.close for b in result.bars] == [174.61, 175.84]
    assert "page_token" not in seen[0].url.params
    assert seen[1].url.params["page_token"] == pages[0]["next_page_token"]
    assert seen[0].headers["APCA-API-KEY-ID"] == "id"
    assert seen[0].headers["APCA-API-SECRET-KEY"] == "secret"


# --- Polygon aggregates ------------------------------------------------------------------


def test_polygon_2005_bars_across_the_dst_change(recording: Recording) -> None:
    result = parse_aggregates(
        recording("polygon/v2_aggs_AAPL_range_1_day_2005-04-01_2005-04-04.json"), symbol="AAPL"
    )
    # 05:00Z then 04:00Z: both New York midnight, on either side of 2005-04-03.
    assert [(b.trading_date, b.close, b.volume) for b in result.bars] == [
        (date(2005, 4, 1), 1.4604, 642_646_396),
        (date(2005, 4, 4), 1.4675, 578_172_308),
    ]
    assert result.basis is PriceBasis.SPLIT


def test_polygon_previous_close_bar_stamped_at_the_close(recording: Recording) -> None:
    result = parse_aggregates(recording("polygon/v2_aggs_AAPL_prev.json"), symbol="AAPL")
    assert [(b.trading_date, b.close) for b in result.bars] == [(date(2022, 4, 26), 156.8)]


async def test_polygon_follows_next_url_on_its_own_base_and_readds_the_key(
    recording: Recording, fast_limiter: WindowLimiter
) -> None:
    first = recording("polygon/openapi_example_v2_aggs_AAPL_with_next_url.json")
    last = {"ticker": "AAPL", "queryCount": 0, "resultsCount": 0, "status": "OK"}
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=first if len(seen) == 1 else last)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = PolygonProvider(
            client=client, base_url="http://emulator.test", api_key="K", limiter=fast_limiter
        )
        result = await provider.fetch(
            symbol="AAPL", start=date(2020, 1, 1), end=date(2020, 1, 10), interval=Interval.D1
        )
    assert [(b.trading_date, b.close) for b in result.bars] == [
        (date(2020, 1, 2), 75.0875),
        (date(2020, 1, 3), 74.3575),
    ]
    assert seen[1].url.host == "emulator.test"
    assert seen[1].url.params["cursor"] == "bGltaXQ9MiZzb3J0PWFzYw"
    assert seen[1].url.params["apiKey"] == "K"


def test_polygon_reference_splits_dividends_and_ticker_details(recording: Recording) -> None:
    splits = parse_splits(recording("polygon/v3_reference_splits.json"))
    assert len(splits) == 10
    assert (splits[0].symbol, splits[0].ex_date, splits[0].ratio) == (
        "GOOGL",
        date(2022, 7, 18),
        20.0,
    )
    reverse = next(s for s in splits if s.symbol == "BRW")
    assert reverse.ratio == 0.5
    dividends = parse_dividends(recording("polygon/v3_reference_dividends.json"))
    assert len(dividends) == 10
    assert (dividends[0].ex_date, dividends[0].amount) == (date(2025, 6, 12), 0.59375)
    details = parse_ticker_details(
        recording("polygon/v3_reference_tickers_AAPL.json"), as_of=date(2022, 5, 1)
    )
    assert details.market_cap == 2_488_795_282_370
    assert details.shares_outstanding == 16_319_440_000


# --- Alpha Vantage -----------------------------------------------------------------------


def test_alpha_vantage_intraday_strings_newest_first_and_partial_last_bar(
    recording: Recording,
) -> None:
    result = parse_time_series(
        recording("alpha_vantage/intraday_1min_MSFT_2017-12-18_compact.json"), interval=Interval.M1
    )
    assert len(result.bars) == 100
    first, last = result.bars[0], result.bars[-1]
    # Naive US/Eastern labels: 13:17 EST is 18:17Z.
    assert first.ts == datetime(2017, 12, 18, 18, 17, tzinfo=UTC)
    assert (first.open, first.close, first.volume) == (86.8101, 86.8, 31_172)
    assert last.ts == datetime(2017, 12, 18, 19, 56, tzinfo=UTC)
    assert last.close == 86.5
    # "Last Refreshed 2017-12-18 14:56:00" is mid-session: that bar was still forming.
    assert last.is_partial
    assert sum(b.is_partial for b in result.bars) == 1
    assert all(
        a.ts is not None and b.ts is not None and a.ts < b.ts
        for a, b in zip(result.bars, result.bars[1:], strict=False)
    )


def test_alpha_vantage_overview_fundamentals(recording: Recording) -> None:
    snapshot = parse_overview(recording("alpha_vantage/overview_IBM_2020.json"))
    assert snapshot.symbol == "IBM"
    assert snapshot.as_of == date(2020, 6, 30)
    assert snapshot.market_cap == 114_234_572_800
    assert snapshot.shares_outstanding == 890_579_008


def test_alpha_vantage_http_200_error_bodies_are_classified(errors_quoted: dict[str, Any]) -> None:
    outcomes = []
    for entry in errors_quoted["alpha_vantage"]:
        try:
            classify_body(entry["body"])
        except RateLimited as exc:
            outcomes.append(("rate_limited", exc.retry_after))
        except ProviderError:
            outcomes.append(("error", None))
    assert outcomes == [
        ("error", None),  # Error Message: invalid call
        ("rate_limited", None),  # 25 requests per day
        ("rate_limited", 1.0),  # 1 request per second burst
        ("error", None),  # premium endpoint
        ("rate_limited", 60.0),  # legacy Note: 5 calls per minute
    ]


def test_alpha_vantage_daily_partial_when_refreshed_mid_session() -> None:
    body = {
        "Meta Data": {
            "2. Symbol": "IBM",
            "3. Last Refreshed": "2019-08-26 15:27:34",
            "5. Time Zone": "US/Eastern",
        },
        "Time Series (Daily)": {
            "2019-08-26": {
                "1. open": "134.9900",
                "2. high": "135.5600",
                "3. low": "133.9000",
                "4. close": "135.4500",
                "5. volume": "2032416",
            },
            "2019-08-23": {
                "1. open": "138.5500",
                "2. high": "138.9900",
                "3. low": "133.6000",
                "4. close": "133.6",
                "5. volume": "4478532",
            },
        },
    }
    result = parse_time_series(body)
    assert [(b.trading_date, b.close, b.is_partial) for b in result.bars] == [
        (date(2019, 8, 23), 133.6, False),
        (date(2019, 8, 26), 135.45, True),
    ]


# --- Twelve Data (shape-only fixtures) ----------------------------------------------------


def test_twelvedata_batch_with_a_per_symbol_error(recording: Recording) -> None:
    parsed = parse_batch(recording("twelvedata/shape_only/batch_error.json"))
    good, bad = parsed["AAPL"], parsed["INVALID"]
    assert not isinstance(good, Exception)
    assert [(b.trading_date, b.close, b.volume) for b in good.bars] == [
        (date(2024, 11, 22), 229.87, 35_462_000)
    ]
    assert isinstance(bad, ProviderError) and bad.status == 400
    both = parse_batch(recording("twelvedata/shape_only/batch_time_series.json"))
    assert sorted(both) == ["AAPL", "MSFT"]


def test_twelvedata_intraday_local_time_to_utc(recording: Recording) -> None:
    result = parse_series(
        recording("twelvedata/shape_only/openapi_schema_example_time_series_1min.json"),
        interval=Interval.M1,
    )
    (bar,) = result.bars
    assert bar.ts == datetime(2021, 9, 16, 19, 59, tzinfo=UTC)  # 15:59 EDT
    assert bar.trading_date == date(2021, 9, 16)
    assert (bar.close, bar.volume) == (148.85001, 624_277)


def test_twelvedata_error_bodies(recording: Recording, errors_quoted: dict[str, Any]) -> None:
    kinds = [type(error_from_body(e["body"])).__name__ for e in errors_quoted["twelvedata"]]
    assert kinds[:3] == ["RateLimited", "ProviderError", "EmptyData"]
    assert isinstance(
        error_from_body(
            recording("twelvedata/shape_only/openapi_doc_example_error_400_interval.json")
        ),
        ProviderError,
    )
    limited = error_from_body(errors_quoted["twelvedata"][0]["body"])
    assert isinstance(limited, RateLimited) and limited.retry_after == 60.0
    assert isinstance(
        error_from_body({"code": 404, "message": "Data not found", "status": "error"}), EmptyData
    )
