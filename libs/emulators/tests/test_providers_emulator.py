"""The market-data provider emulator over a real socket: each provider's shapes, limits,
error bodies and pagination, fault injection and the request log."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from secmaster_emulators.openfigi import serve_in_thread
from secmaster_emulators.providers import WindowRule, create_app, synthetic_day

StartProviders = Callable[..., str]
ALPACA_KEYS = {"APCA-API-KEY-ID": "id", "APCA-API-SECRET-KEY": "secret"}


@pytest.fixture
def start_providers() -> Iterator[StartProviders]:
    """`start_providers(**create_app_kwargs) -> base_url`; stopped when the test ends."""
    with ExitStack() as stack:

        def start(**kwargs: Any) -> str:
            url: str = stack.enter_context(serve_in_thread(create_app(**kwargs)))
            return url

        yield start


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def test_yahoo_chart_bars_at_the_new_york_open_on_sessions_only(
    start_providers: StartProviders,
) -> None:
    url = start_providers(enforce_limits=False)
    params: dict[str, Any] = {
        "period1": _epoch(date(2024, 3, 7)),
        "period2": _epoch(date(2024, 3, 13)),
        "interval": "1d",
    }
    body = httpx.get(f"{url}/v8/finance/chart/ACME", params=params, timeout=5).json()
    result = body["chart"]["result"][0]
    stamps = [datetime.fromtimestamp(t, tz=UTC) for t in result["timestamp"]]
    # 09:30 EST is 14:30Z; after the 2024-03-10 change, 09:30 EDT is 13:30Z.
    assert [s.strftime("%m-%d %H:%M") for s in stamps] == [
        "03-07 14:30",
        "03-08 14:30",
        "03-11 13:30",
        "03-12 13:30",
    ]
    quote = result["indicators"]["quote"][0]
    expected = synthetic_day("ACME", date(2024, 3, 11))
    assert expected is not None
    assert (quote["close"][2], quote["volume"][2]) == (expected.close, expected.volume)
    assert result["meta"]["exchangeTimezoneName"] == "America/New_York"
    # A second emulator serves the same numbers: the series is a function of (symbol, date).
    other = start_providers(enforce_limits=False)
    assert (
        httpx.get(f"{other}/v8/finance/chart/ACME", params=params, timeout=5).json()["chart"][
            "result"
        ][0]["indicators"]
        == result["indicators"]
    )


def test_yahoo_unknown_symbol_and_weekend(start_providers: StartProviders) -> None:
    url = start_providers(enforce_limits=False)
    missing = httpx.get(
        f"{url}/v8/finance/chart/DELISTED", params={"period1": 0, "period2": 86400}, timeout=5
    )
    assert missing.status_code == 404
    assert (
        missing.json()["chart"]["error"]["description"] == "No data found, symbol may be delisted"
    )
    weekend = httpx.get(
        f"{url}/v8/finance/chart/ACME",
        params={"period1": _epoch(date(2025, 2, 1)), "period2": _epoch(date(2025, 2, 3))},
        timeout=5,
    ).json()["chart"]["result"][0]
    assert "timestamp" not in weekend and weekend["indicators"] == {"quote": [{}]}


def test_published_limits_answer_with_each_providers_body(start_providers: StartProviders) -> None:
    url = start_providers(
        limits={
            "yahoo": (WindowRule(2, 60),),
            "alpaca": (WindowRule(3, 60),),
            "polygon": (WindowRule(5, 60),),
            "alphavantage": (WindowRule(1, 1.0), WindowRule(25, 86_400)),
        }
    )
    polygon = [
        httpx.get(
            f"{url}/v2/aggs/ticker/ACME/range/1/day/2024-01-02/2024-01-05",
            params={"apiKey": "k"},
            timeout=5,
        )
        for _ in range(6)
    ]
    assert [r.status_code for r in polygon] == [200] * 5 + [429]
    assert polygon[5].json()["error"].startswith("You've exceeded the maximum requests per minute")
    yahoo = [httpx.get(f"{url}/v8/finance/chart/ACME", timeout=5) for _ in range(3)]
    assert [r.status_code for r in yahoo] == [200, 200, 429]
    assert yahoo[2].text == "Edge: Too Many Requests"
    assert yahoo[2].headers["content-type"].startswith("text/plain")
    alpaca = [
        httpx.get(
            f"{url}/v2/stocks/bars",
            params={"symbols": "ACME", "start": "2024-01-02", "end": "2024-01-05"},
            headers=ALPACA_KEYS,
            timeout=5,
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in alpaca] == [200, 200, 200, 429]
    assert alpaca[3].json() == {"message": "too many requests."}
    assert alpaca[3].headers["X-RateLimit-Limit"] == "3"
    assert int(alpaca[3].headers["X-RateLimit-Reset"]) >= int(time.time())
    # Alpha Vantage: HTTP 200 with the burst "Information" body.
    av = [
        httpx.get(
            f"{url}/query",
            params={"function": "TIME_SERIES_DAILY", "symbol": "ACME", "apikey": "k"},
            timeout=5,
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in av] == [200, 200]
    assert "Time Series (Daily)" in av[0].json()
    assert "1 request per second" in av[1].json()["Information"]


def test_alpaca_pages_stop_inside_a_symbol_and_join_up(start_providers: StartProviders) -> None:
    url = start_providers(enforce_limits=False)
    params: dict[str, Any] = {
        "symbols": "TSLA,AAPL",
        "timeframe": "1Day",
        "start": "2022-02-01",
        "end": "2022-02-07",
        "limit": 3,
    }
    pages, collected = [], []
    while True:
        page = httpx.get(
            f"{url}/v2/stocks/bars", params=params, headers=ALPACA_KEYS, timeout=5
        ).json()
        pages.append(page)
        collected += [(sym, bar["t"]) for sym, bars in page["bars"].items() for bar in bars]
        if not page["next_page_token"]:
            break
        params["page_token"] = page["next_page_token"]
    assert len(pages) == 4 and len(collected) == 10 == len(set(collected))
    assert sorted(pages[1]["bars"]) == [
        "AAPL",
        "TSLA",
    ]  # page 2 holds the end of AAPL and start of TSLA
    assert base64.b64decode(pages[0]["next_page_token"]).decode() == "AAPL|D|2022-02-03T05:00:00Z"
    assert collected[0] == ("AAPL", "2022-02-01T05:00:00Z")
    no_keys = httpx.get(f"{url}/v2/stocks/bars", params={"symbols": "AAPL"}, timeout=5)
    assert (no_keys.status_code, no_keys.json()) == (403, {"message": "forbidden."})
    single = httpx.get(
        f"{url}/v2/stocks/AAPL/bars",
        params={"start": "2022-02-05", "end": "2022-02-06"},
        headers=ALPACA_KEYS,
        timeout=5,
    ).json()
    assert single == {"bars": [], "symbol": "AAPL", "next_page_token": None}


def test_polygon_next_url_pagination_key_and_no_data(start_providers: StartProviders) -> None:
    url = start_providers(enforce_limits=False)
    first = httpx.get(
        f"{url}/v2/aggs/ticker/ACME/range/1/day/2024-01-01/2024-01-12",
        params={"apiKey": "k", "limit": 6},
        timeout=5,
    ).json()
    assert first["resultsCount"] == 6 and first["next_url"].startswith(
        f"{url}/v2/aggs/ticker/ACME/"
    )
    second = httpx.get(first["next_url"] + "&apiKey=k", timeout=5).json()
    # New Year's Day 2024 (a Monday) is an NYSE holiday: 9 sessions, 6 + 3.
    assert second["resultsCount"] == 3 and "next_url" not in second
    stamps = [r["t"] for r in first["results"] + second["results"]]
    assert datetime.fromtimestamp(stamps[0] / 1000, tz=UTC) == datetime(2024, 1, 2, 5, tzinfo=UTC)
    assert len(set(stamps)) == 9
    unauthorized = httpx.get(
        f"{url}/v2/aggs/ticker/ACME/range/1/day/2024-01-01/2024-01-12", timeout=5
    )
    assert (unauthorized.status_code, unauthorized.json()["error"]) == (
        401,
        "API Key was not provided",
    )
    holiday = httpx.get(
        f"{url}/v2/aggs/ticker/ACME/range/1/day/2024-01-06/2024-01-07",
        params={"apiKey": "k"},
        timeout=5,
    ).json()
    assert "results" not in holiday and holiday["resultsCount"] == 0


def test_alpha_vantage_bodies(start_providers: StartProviders) -> None:
    url = start_providers(enforce_limits=False, today=lambda: date(2024, 5, 15))
    daily = httpx.get(
        f"{url}/query",
        params={"function": "TIME_SERIES_DAILY", "symbol": "ACME", "apikey": "k"},
        timeout=5,
    ).json()
    days = list(daily["Time Series (Daily)"])
    assert len(days) == 100 and days[0] == "2024-05-15" and days[0] > days[-1]  # newest first
    assert isinstance(daily["Time Series (Daily)"]["2024-05-15"]["4. close"], str)
    premium = httpx.get(
        f"{url}/query",
        params={"function": "TIME_SERIES_DAILY_ADJUSTED", "symbol": "ACME", "apikey": "k"},
        timeout=5,
    )
    assert premium.status_code == 200 and "premium endpoint" in premium.json()["Information"]
    no_key = httpx.get(
        f"{url}/query", params={"function": "TIME_SERIES_DAILY", "symbol": "ACME"}, timeout=5
    ).json()
    assert "apikey is invalid or missing" in no_key["Error Message"]
    overview = httpx.get(
        f"{url}/query", params={"function": "OVERVIEW", "symbol": "ACME", "apikey": "k"}, timeout=5
    ).json()
    assert overview["LatestQuarter"] == "2024-03-31"
    assert int(overview["MarketCapitalization"]) > 0 and int(overview["SharesOutstanding"]) > 0


def test_faults_on_demand_and_the_request_log(start_providers: StartProviders) -> None:
    url = start_providers(enforce_limits=False)
    chart = f"{url}/v8/finance/chart/ACME"
    httpx.post(
        f"{url}/_admin/faults",
        json={"provider": "yahoo", "kind": "rate_limit", "count": 2},
        timeout=5,
    ).raise_for_status()
    assert [httpx.get(chart, timeout=5).status_code for _ in range(3)] == [429, 429, 200]
    httpx.post(
        f"{url}/_admin/faults",
        json={"provider": "polygon", "kind": "server_error", "status": 502, "symbol": "ACME"},
        timeout=5,
    )
    agg = "/v2/aggs/ticker/{}/range/1/day/2024-01-02/2024-01-05"
    assert (
        httpx.get(url + agg.format("OTHER"), params={"apiKey": "k"}, timeout=5).status_code == 200
    )
    assert httpx.get(url + agg.format("ACME"), params={"apiKey": "k"}, timeout=5).status_code == 502
    httpx.post(f"{url}/_admin/faults", json={"kind": "empty"}, timeout=5)
    empty = httpx.get(
        f"{url}/v2/stocks/bars",
        params={"symbols": "ACME", "start": "2024-01-02"},
        headers=ALPACA_KEYS,
        timeout=5,
    )
    assert empty.json() == {"bars": {}, "next_page_token": None}
    httpx.post(
        f"{url}/_admin/faults",
        json={"provider": "alphavantage", "kind": "latency", "latency_s": 0.3},
        timeout=5,
    )
    began = time.monotonic()
    httpx.get(
        f"{url}/query",
        params={"function": "OVERVIEW", "symbol": "ACME", "apikey": "secret-key"},
        timeout=5,
    )
    assert time.monotonic() - began >= 0.3
    assert httpx.get(f"{url}/_admin/faults", timeout=5).json() == {"faults": []}  # all used up
    log = httpx.get(f"{url}/_admin/requests", timeout=5).json()
    assert [(r["provider"], r["status"], r["fault"]) for r in log["requests"]] == [
        ("yahoo", 429, "rate_limit"),
        ("yahoo", 429, "rate_limit"),
        ("yahoo", 200, None),
        ("polygon", 200, None),
        ("polygon", 502, "server_error"),
        ("alpaca", 200, "empty"),
        ("alphavantage", 200, "latency"),
    ]
    assert log["requests"][-1]["query"]["apikey"] == "***"
    assert (
        httpx.get(f"{url}/_admin/requests", params={"provider": "polygon"}, timeout=5).json()[
            "count"
        ]
        == 2
    )
    httpx.delete(f"{url}/_admin/requests", timeout=5)
    assert httpx.get(f"{url}/_admin/requests", timeout=5).json()["count"] == 0
