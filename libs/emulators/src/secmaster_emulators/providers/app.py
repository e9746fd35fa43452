"""The market-data provider emulator as a FastAPI app: Yahoo chart v8, Alpaca v2 bars,
Polygon aggregates and Alpha Vantage query shapes over one deterministic synthetic series,
each provider's limits and error bodies (specs/providers.md, reference/providers/
ERRORS_FROM_DOCS_AND_ISSUES.json), and `/_admin/*` routes for faults and the request log."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from secmaster_common.sandbox import SyntheticDay, synthetic_day
from secmaster_emulators.providers.state import (
    PUBLISHED_LIMITS,
    EmulatorState,
    FaultRule,
    RequestRecord,
    WindowRule,
)

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = date(2000, 1, 3)
DEFAULT_UNKNOWN = frozenset({"INVALID", "DELISTED"})

YAHOO_429 = "Edge: Too Many Requests"
POLYGON_429 = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing"
)
AV_BURST = (
    "Thank you for using Alpha Vantage! Please consider spreading out your free API requests "
    "more sparingly (1 request per second). You may subscribe to any of the premium plans at "
    "https://www.alphavantage.co/premium/ to lift the free key rate limit (25 requests per "
    "day), raise the per-second burst limit, and instantly unlock all premium endpoints"
)
AV_DAILY = (
    "We have detected your API key as {key} and our standard API rate limit is 25 requests "
    "per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/"
    "premium/ to instantly remove all daily rate limits."
)
AV_PREMIUM = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any "
    "of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all "
    "premium endpoints"
)
AV_NO_KEY = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
)


def _days(symbol: str, start: date, end: date) -> list[tuple[date, SyntheticDay]]:
    out = []
    day = max(start, FIRST_DAY)
    while day <= end:
        bar = synthetic_day(symbol, day)
        if bar is not None:
            out.append((day, bar))
        day += timedelta(days=1)
    return out


def _ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def _parse_day(text: str) -> date:
    """A date or RFC-3339 timestamp (Alpaca `start`/`end`), or unix ms (Polygon), as a
    New York calendar date."""
    text = text.strip()
    if text.isdigit() and len(text) > 8:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).astimezone(NEW_YORK).date()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(NEW_YORK).date()


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


# --- per-provider error bodies ----------------------------------------------------------


def _polygon_error(message: str, status: int) -> Response:
    """Polygon's error body: a status, a request id and the message."""
    return _json({"status": "ERROR", "request_id": uuid.uuid4().hex, "error": message}, status)


def _polygon_key(request: Request) -> str:
    """Polygon takes the key as `apiKey` or as a bearer token."""
    return request.query_params.get("apiKey") or request.headers.get(
        "authorization", ""
    ).removeprefix("Bearer ")


def _rate_limited(
    provider: str, retry_after_s: float, rule: WindowRule | None, key: str
) -> Response:
    wait = max(1, int(retry_after_s + 0.999))
    if provider == "yahoo":
        return PlainTextResponse(YAHOO_429, status_code=429)
    if provider == "alpaca":
        # Alpaca's documented rate-limit headers; Reset is a unix epoch second.
        headers = {
            "X-RateLimit-Limit": str(rule.max_calls if rule else 200),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + wait),
        }
        return _json({"message": "too many requests."}, 429, headers)
    if provider == "polygon":
        return _polygon_error(POLYGON_429, 429)
    # Alpha Vantage answers every error with HTTP 200.
    daily = rule is not None and rule.window_s >= 3600
    return _json({"Information": AV_DAILY.format(key=key or "demo") if daily else AV_BURST})


def _server_error(provider: str, status: int) -> Response:
    if provider == "yahoo":
        body: Any = {
            "chart": {
                "result": None,
                "error": {"code": "Internal Server Error", "description": "Internal error"},
            }
        }
    elif provider == "alpaca":
        body = {"message": "internal server error"}
    elif provider == "polygon":
        body = {"status": "ERROR", "request_id": uuid.uuid4().hex, "error": "Internal error"}
    else:
        return PlainTextResponse("Service Unavailable", status_code=status)
    return _json(body, status)


# --- bodies ---------------------------------------------------------------------------


def _yahoo_meta(
    symbol: str, granularity: str, last: tuple[date, SyntheticDay] | None
) -> dict[str, Any]:
    market_day = last[0] if last else date.today()
    opened, closed = _ny(market_day, 9, 30), _ny(market_day, 16)
    utc_offset = opened.utcoffset()
    offset = int(utc_offset.total_seconds()) if utc_offset is not None else 0
    regular = {
        "timezone": opened.tzname(),
        "start": int(opened.timestamp()),
        "end": int(closed.timestamp()),
        "gmtoffset": offset,
    }
    return {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "regularMarketTime": int(closed.timestamp()),
        "gmtoffset": offset,
        "timezone": opened.tzname(),
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": last[1].close if last else None,
        "priceHint": 2,
        "currentTradingPeriod": {"pre": regular, "regular": regular, "post": regular},
        "dataGranularity": granularity,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        "synthetic": True,
    }


def yahoo_chart(symbol: str, period1: int, period2: int, *, empty: bool = False) -> dict[str, Any]:
    """Chart v8 for 1d bars stamped at the 09:30 New York open, as Yahoo does."""
    first = datetime.fromtimestamp(period1, tz=UTC).astimezone(NEW_YORK).date()
    last = datetime.fromtimestamp(period2, tz=UTC).astimezone(NEW_YORK).date()
    rows = (
        []
        if empty
        else [
            (d, b)
            for d, b in _days(symbol, first, last)
            if period1 <= _ny(d, 9, 30).timestamp() < period2
        ]
    )
    result: dict[str, Any] = {"meta": _yahoo_meta(symbol, "1d", rows[-1] if rows else None)}
    if not rows:
        # Yahoo's no-data shape: no `timestamp` key and quote = [{}] (weekend recording).
        result["indicators"] = {"quote": [{}]}
    else:
        result["timestamp"] = [int(_ny(d, 9, 30).timestamp()) for d, _ in rows]
        result["indicators"] = {
            "quote": [
                {
                    "open": [b.open for _, b in rows],
                    "high": [b.high for _, b in rows],
                    "low": [b.low for _, b in rows],
                    "close": [b.close for _, b in rows],
                    "volume": [b.volume for _, b in rows],
                }
            ],
            "adjclose": [{"adjclose": [b.close for _, b in rows]}],
        }
    return {"chart": {"result": [result], "error": None}}


def _alpaca_bar(day: date, bar: SyntheticDay) -> dict[str, Any]:
    midnight = _ny(day, 0).astimezone(UTC)
    return {
        "t": midnight.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": bar.volume,
        "n": bar.volume // 100,
        "vw": round((bar.high + bar.low + bar.close) / 3, 6),
    }


def _token(symbol: str, t: str) -> str:
    return base64.b64encode(f"{symbol}|D|{t}".encode()).decode()


def alpaca_page(
    symbols: list[str], start: date, end: date, limit: int, page_token: str | None, *, empty: bool
) -> dict[str, Any]:
    """One page over all symbols (symbol order, then time); `limit` counts all symbols
    together and a page may stop inside a symbol, as Alpaca's does."""
    entries = (
        []
        if empty
        else [
            (sym, _alpaca_bar(d, b))
            for sym in sorted(set(symbols))
            for d, b in _days(sym, start, end)
        ]
    )
    offset = 0
    if page_token:
        sym, _, t = base64.b64decode(page_token).decode().split("|")
        positions = [i for i, (s, bar) in enumerate(entries) if (s, bar["t"]) == (sym, t)]
        if not positions:
            raise ValueError(f"page token {page_token!r} matches no bar")
        offset = positions[0] + 1
    page = entries[offset : offset + limit]
    bars: dict[str, list[dict[str, Any]]] = {}
    for sym, bar in page:
        bars.setdefault(sym, []).append(bar)
    token = None
    if offset + limit < len(entries):
        last_symbol, last_bar = page[-1]
        token = _token(last_symbol, last_bar["t"])
    return {"bars": bars, "next_page_token": token}


def polygon_aggs(
    ticker: str,
    start: date,
    end: date,
    limit: int,
    offset: int,
    base: str,
    path: str,
    *,
    empty: bool,
) -> dict[str, Any]:
    rows = [] if empty else _days(ticker, start, end)
    page = rows[offset : offset + limit]
    body: dict[str, Any] = {
        "ticker": ticker,
        "queryCount": len(page),
        "resultsCount": len(page),
        "adjusted": True,
        "status": "OK",
        "request_id": uuid.uuid4().hex,
    }
    if page:  # with no data Polygon leaves `results` out altogether
        body["results"] = [
            {
                "v": float(b.volume),
                "vw": round((b.high + b.low + b.close) / 3, 4),
                "o": b.open,
                "c": b.close,
                "h": b.high,
                "l": b.low,
                "t": int(_ny(d, 0).timestamp() * 1000),
                "n": b.volume // 100,
            }
            for d, b in page
        ]
        body["count"] = len(page)
    if offset + limit < len(rows):
        cursor = base64.urlsafe_b64encode(f"offset={offset + limit}&limit={limit}".encode())
        body["next_url"] = f"{base}{path}?cursor={cursor.decode()}"
    return body


def av_daily(symbol: str, today: date, outputsize: str, *, empty: bool) -> dict[str, Any]:
    rows = [] if empty else _days(symbol, FIRST_DAY, today)
    if outputsize != "full":
        rows = rows[-100:]
    series = {
        d.isoformat(): {
            "1. open": f"{b.open:.4f}",
            "2. high": f"{b.high:.4f}",
            "3. low": f"{b.low:.4f}",
            "4. close": f"{b.close:.4f}",
            "5. volume": str(b.volume),
        }
        for d, b in reversed(rows)  # newest first, values as strings
    }
    return {
        "Meta Data": {
            "1. Information": "Daily Prices (open, high, low, close) and Volumes",
            "2. Symbol": symbol,
            "3. Last Refreshed": rows[-1][0].isoformat() if rows else today.isoformat(),
            "4. Output Size": "Full size" if outputsize == "full" else "Compact",
            "5. Time Zone": "US/Eastern",
        },
        "Time Series (Daily)": series,
    }


def av_overview(symbol: str, today: date) -> dict[str, Any]:
    rows = _days(symbol, today - timedelta(days=10), today)
    close = rows[-1][1].close if rows else 0.0
    # Shares outstanding: a fixed synthetic figure per symbol from its volume scale.
    shares = synthetic_shares(symbol)
    quarter_end = date(today.year, ((today.month - 1) // 3) * 3 + 1, 1) - timedelta(days=1)
    return {
        "Symbol": symbol,
        "AssetType": "Common Stock",
        "Name": f"{symbol} (synthetic)",
        "Exchange": "NASDAQ",
        "Currency": "USD",
        "LatestQuarter": quarter_end.isoformat(),
        "MarketCapitalization": str(int(shares * close)),
        "SharesOutstanding": str(shares),
    }


def synthetic_shares(symbol: str) -> int:
    """A fixed synthetic share count per symbol, from its volume scale."""
    first = synthetic_day(symbol, date(2020, 1, 2)) or SyntheticDay(0, 0, 0, 0, 1)
    return int(first.volume * 50)


def polygon_ticker(ticker: str, as_of: date) -> dict[str, Any]:
    """v3 reference ticker details as of a date: market cap at the last close on or before
    it. Polygon reports share-class shares; the emulator gives 1% fewer than Alpha Vantage's
    company total, so which provider a combined figure came from is visible."""
    rows = _days(ticker, as_of - timedelta(days=10), as_of)
    shares = int(synthetic_shares(ticker) * 0.99)
    results: dict[str, Any] = {
        "ticker": ticker,
        "name": f"{ticker} (synthetic)",
        "market": "stocks",
        "locale": "us",
        "primary_exchange": "XNAS",
        "type": "CS",
        "active": True,
        "currency_name": "usd",
        "share_class_shares_outstanding": shares,
        "weighted_shares_outstanding": shares,
    }
    if rows:
        results["market_cap"] = round(shares * rows[-1][1].close, 2)
    return {"results": results, "status": "OK", "request_id": uuid.uuid4().hex}


# --- the app ----------------------------------------------------------------------------


def create_app(
    *,
    limits: Mapping[str, tuple[WindowRule, ...]] | None = None,
    enforce_limits: bool = True,
    unknown_symbols: frozenset[str] = DEFAULT_UNKNOWN,
    latency_s: float = 0.0,
    today: Callable[[], date] = lambda: datetime.now(NEW_YORK).date(),
) -> FastAPI:
    """Build the emulator. `limits` default to the published ones (PUBLISHED_LIMITS);
    `enforce_limits=False` serves without any. Symbols in `unknown_symbols` get each
    provider's unknown-symbol answer; every other symbol has a synthetic series."""
    chosen = dict(PUBLISHED_LIMITS if limits is None else limits) if enforce_limits else {}
    state = EmulatorState(
        limits=chosen,
        unknown_symbols=frozenset(s.upper() for s in unknown_symbols),
        latency_s=latency_s,
    )
    app = FastAPI(title="secmaster provider emulator", docs_url=None, redoc_url=None)
    app.state.emulator = state

    @app.middleware("http")
    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        provider = getattr(request.state, "provider", None)
        if provider:
            query = {
                k: ("***" if k.lower() == "apikey" else v) for k, v in request.query_params.items()
            }
            state.log.append(
                RequestRecord(
                    provider=provider,
                    method=request.method,
                    path=request.url.path,
                    query=query,
                    symbol=getattr(request.state, "symbol", None),
                    status=response.status_code,
                    at_s=round(time.monotonic() - state.t0, 6),
                    fault=getattr(request.state, "fault", None),
                )
            )
        return response

    async def guard(
        request: Request, provider: str, symbol: str | None, key: str = ""
    ) -> Response | str | None:
        """Faults first, then published limits. Returns a finished error response, the
        string "empty" when an empty-data fault applies, or None to answer normally."""
        request.state.provider, request.state.symbol = provider, symbol
        extra, fault = state.take_faults(provider, symbol)
        if extra > 0:
            request.state.fault = "latency"
        if state.latency_s + extra > 0:
            await asyncio.sleep(state.latency_s + extra)
        if fault is not None:
            request.state.fault = fault.kind
            if fault.kind == "rate_limit":
                return _rate_limited(provider, fault.retry_after_s, None, key)
            if fault.kind == "server_error":
                return _server_error(provider, fault.status)
            return "empty"
        over = state.over_limit(provider)
        if over is not None:
            request.state.fault = "limit"
            return _rate_limited(provider, over[0], over[1], key)
        return None

    # Yahoo ------------------------------------------------------------------------------
    @app.get("/v8/finance/chart/{symbol}")
    async def yahoo(
        request: Request,
        symbol: str,
        interval: str = "1d",
        period1: int | None = None,
        period2: int | None = None,
        range: str | None = None,
    ) -> Response:
        verdict = await guard(request, "yahoo", symbol)
        if isinstance(verdict, Response):
            return verdict
        if symbol.upper() in state.unknown_symbols:
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Not Found",
                            "description": "No data found, symbol may be delisted",
                        },
                    }
                },
                404,
            )
        if interval != "1d":
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Unprocessable Entity",
                            "description": f"{interval} bars are not served here (1d only)",
                        },
                    }
                },
                422,
            )
        now = int(time.time())
        if period1 is None or period2 is None:
            span = {
                "1d": 1,
                "5d": 5,
                "1mo": 31,
                "3mo": 92,
                "6mo": 183,
                "1y": 366,
                "2y": 731,
                "5y": 1827,
                "10y": 3653,
                "max": 9000,
            }.get(range or "1mo", 31)
            period1, period2 = now - span * 86_400, now
        return _json(yahoo_chart(symbol, period1, period2, empty=verdict == "empty"))

    # Alpaca -----------------------------------------------------------------------------
    async def alpaca(request: Request, symbols: list[str], single: bool) -> Response:
        params = request.query_params
        verdict = await guard(request, "alpaca", ",".join(symbols))
        if isinstance(verdict, Response):
            return verdict
        if not request.headers.get("apca-api-key-id") or not request.headers.get(
            "apca-api-secret-key"
        ):
            return _json({"message": "forbidden."}, 403)
        if params.get("timeframe", "1Day") not in ("1Day", "1D"):
            return _json(
                {"code": 42210000, "message": "invalid timeframe (emulator serves 1Day)"}, 422
            )
        try:
            start = _parse_day(params.get("start", FIRST_DAY.isoformat()))
            end = _parse_day(params["end"]) if "end" in params else today()
            limit = int(params.get("limit", "1000"))
        except ValueError as exc:
            return _json({"code": 42210000, "message": f"invalid parameter: {exc}"}, 422)
        if not 1 <= limit <= 10_000:
            return _json({"code": 42210000, "message": "invalid limit: must be 1..10000"}, 422)
        known = [s.upper() for s in symbols if s.upper() not in state.unknown_symbols]
        try:
            page = alpaca_page(
                known, start, end, limit, params.get("page_token"), empty=verdict == "empty"
            )
        except (ValueError, UnicodeDecodeError) as exc:
            return _json({"code": 42210000, "message": f"invalid page_token: {exc}"}, 422)
        if single:
            sym = symbols[0].upper()
            return _json(
                {
                    "bars": page["bars"].get(sym, []),
                    "symbol": sym,
                    "next_page_token": page["next_page_token"],
                }
            )
        return _json(page)

    @app.get("/v2/stocks/bars")
    async def alpaca_multi(request: Request, symbols: str = "") -> Response:
        return await alpaca(request, [s for s in symbols.split(",") if s], single=False)

    @app.get("/v2/stocks/{symbol}/bars")
    async def alpaca_single(request: Request, symbol: str) -> Response:
        return await alpaca(request, [symbol], single=True)

    # Polygon ----------------------------------------------------------------------------
    @app.get("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{start}/{end}")
    async def polygon(
        request: Request, ticker: str, multiplier: int, timespan: str, start: str, end: str
    ) -> Response:
        params = request.query_params
        key = _polygon_key(request)
        verdict = await guard(request, "polygon", ticker, key)
        if isinstance(verdict, Response):
            return verdict
        if not key:
            return _polygon_error("API Key was not provided", 401)
        if (multiplier, timespan) != (1, "day"):
            return _polygon_error("emulator serves 1/day aggregates only", 400)
        limit, offset = int(params.get("limit", "5000")), 0
        if "cursor" in params:
            decoded = dict(
                p.split("=") for p in base64.urlsafe_b64decode(params["cursor"]).decode().split("&")
            )
            limit, offset = int(decoded["limit"]), int(decoded["offset"])
        unknown = ticker.upper() in state.unknown_symbols
        body = polygon_aggs(
            ticker.upper(),
            _parse_day(start),
            _parse_day(end),
            min(limit, 50_000),
            offset,
            str(request.base_url).rstrip("/"),
            request.url.path,
            empty=verdict == "empty" or unknown,
        )
        return _json(body)

    @app.get("/v3/reference/tickers/{ticker}")
    async def polygon_ticker_details(
        request: Request, ticker: str, date_: str | None = Query(None, alias="date")
    ) -> Response:
        key = _polygon_key(request)
        verdict = await guard(request, "polygon", ticker, key)
        if isinstance(verdict, Response):
            return verdict
        if not key:
            return _polygon_error("API Key was not provided", 401)
        if verdict == "empty" or ticker.upper() in state.unknown_symbols:
            # Polygon's answer for a ticker it does not know on that date.
            return _json(
                {
                    "status": "NOT_FOUND",
                    "request_id": uuid.uuid4().hex,
                    "message": "Ticker not found.",
                },
                404,
            )
        as_of = _parse_day(date_) if date_ else today()
        return _json(polygon_ticker(ticker.upper(), as_of))

    # Alpha Vantage ----------------------------------------------------------------------
    @app.get("/query")
    async def alphavantage(
        request: Request,
        function: str = "",
        symbol: str = "",
        apikey: str = "",
        outputsize: str = "compact",
    ) -> Response:
        verdict = await guard(request, "alphavantage", symbol or None, apikey)
        if isinstance(verdict, Response):
            return verdict
        if not apikey:
            return _json({"Error Message": AV_NO_KEY})
        invalid = {
            "Error Message": "Invalid API call. Please retry or visit the documentation "
            f"(https://www.alphavantage.co/documentation/) for {function}."
        }
        if function == "TIME_SERIES_DAILY_ADJUSTED":
            return _json({"Information": AV_PREMIUM})
        if not symbol or symbol.upper() in state.unknown_symbols:
            return _json(invalid)
        if function == "TIME_SERIES_DAILY":
            return _json(av_daily(symbol.upper(), today(), outputsize, empty=verdict == "empty"))
        if function == "OVERVIEW":
            return _json({} if verdict == "empty" else av_overview(symbol.upper(), today()))
        return _json(invalid)

    # Admin ------------------------------------------------------------------------------
    @app.post("/_admin/faults")
    async def add_fault(rule: FaultRule) -> dict[str, Any]:
        state.faults.append(rule)
        return {"faults": [f.model_dump() for f in state.faults]}

    @app.get("/_admin/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [f.model_dump() for f in state.faults]}

    @app.delete("/_admin/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"faults": []}

    @app.get("/_admin/requests")
    async def requests_log(
        provider: str | None = None, symbol: str | None = None
    ) -> dict[str, Any]:
        rows = [
            asdict(r)
            for r in state.log
            if (provider is None or r.provider == provider)
            and (symbol is None or (r.symbol or "").upper() == symbol.upper())
        ]
        return {"count": len(rows), "requests": rows}

    @app.delete("/_admin/requests")
    async def clear_log() -> dict[str, Any]:
        state.log.clear()
        return {"count": 0}

    @app.get("/_admin/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "synthetic": True,
            "limits": {p: [asdict(r) for r in rules] for p, rules in chosen.items()},
        }

    return app
