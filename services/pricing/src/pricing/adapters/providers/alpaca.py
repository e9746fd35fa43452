"""Alpaca Market Data v2 stock bars: multi-symbol requests, page tokens, empty pages
(spec providers.md section 5)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx

from pricing.adapters.providers._http import HttpProvider, json_body, status_error
from pricing.adapters.providers._rows import LETTER_KEYS, SeriesBuilder
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.errors import InvalidData
from pricing.domain.timestamps import NEW_YORK, parse_rfc3339
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.limiter import RateLimiter

NAME = "alpaca"
DEFAULT_BASE_URL = "https://data.alpaca.markets"
DEFAULT_LIMIT = (200, 60.0)  # free plan: 200 requests/min
MAX_LIMIT = 10_000  # DATA_V2_MAX_LIMIT in alpaca-py; counts all symbols together

_TIMEFRAMES = {
    Interval.M1: "1Min",
    Interval.M5: "5Min",
    Interval.M15: "15Min",
    Interval.M30: "30Min",
    Interval.H1: "1Hour",
    Interval.D1: "1Day",
}


def parse_bars_page(body: Any) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """One page: raw bars per symbol and the next page token.

    The multi-symbol endpoint keys bars by symbol (`{}` when empty); the single-symbol
    one gives a list, `[]` or `null`, next to `symbol`.
    """
    if not isinstance(body, dict) or "bars" not in body:
        raise InvalidData(NAME, f"not a bars page: {str(body)[:120]!r}")
    bars = body["bars"]
    token = body.get("next_page_token") or None
    if bars is None:
        return {}, token
    if isinstance(bars, list):
        return ({str(body.get("symbol", "")): bars} if bars else {}), token
    if isinstance(bars, dict):
        return {str(k): list(v or []) for k, v in bars.items()}, token
    raise InvalidData(NAME, f"`bars` is a {type(bars).__name__}")


def bars_to_result(symbol: str, rows: Sequence[dict[str, Any]], interval: Interval) -> FetchResult:
    """Alpaca bars (RFC-3339 `t`; daily bars stamped at New York midnight) as a result."""
    builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=interval)
    for i, row in enumerate(rows):
        instant = parse_rfc3339(str(row["t"]))
        builder.add_row(
            row,
            LETTER_KEYS,
            position=f"{symbol}[{i}] t={row['t']}",
            trading_date=builder.trading_date_of(instant, NEW_YORK),
            ts=instant,
        )
    return builder.result(basis=PriceBasis.RAW, currency="USD", exchange_timezone=NEW_YORK)


class AlpacaProvider(HttpProvider):
    """v2 bars client. `api_key` is "KEY_ID:SECRET" (or give `api_secret` apart)."""

    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (DEFAULT_LIMIT,)

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        feed: str | None = None,
        page_limit: int = MAX_LIMIT,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(client=client, base_url=base_url, limiter=limiter, breaker=breaker)
        key_id, _, secret = (api_key or "").partition(":")
        self._headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": api_secret or secret}
        self.feed = feed
        self.page_limit = min(page_limit, MAX_LIMIT)

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        return (await self.fetch_many(symbols=[symbol], start=start, end=end, interval=interval))[
            symbol
        ]

    async def fetch_many(
        self, *, symbols: Sequence[str], start: date, end: date, interval: Interval
    ) -> dict[str, FetchResult]:
        """All symbols in one paginated request; a page may stop inside a symbol's bars,
        so rows are merged per symbol until `next_page_token` is null (alpaca-py
        _get_marketdata)."""
        collected: dict[str, list[dict[str, Any]]] = {s: [] for s in symbols}
        params: dict[str, Any] = {
            "symbols": ",".join(symbols),
            "timeframe": _TIMEFRAMES[interval],
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": self.page_limit,
            "adjustment": "raw",
            "sort": "asc",
        }
        if self.feed:
            params["feed"] = self.feed
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            if token:
                params["page_token"] = token
            response = await self._http.get(
                f"{self.base_url}/v2/stocks/bars", params=params, headers=self._headers
            )
            body = json_body(response, NAME)
            if response.status_code >= 400:
                message = body.get("message") if isinstance(body, dict) else body
                raise status_error(NAME, response, str(message))
            page, token = parse_bars_page(body)
            for sym, rows in page.items():
                collected.setdefault(sym, []).extend(rows)
            if not token:
                break
            if token in seen_tokens:
                raise InvalidData(NAME, f"page token {token!r} repeated; pagination loops")
            seen_tokens.add(token)
        return {
            sym: bars_to_result(sym, rows, interval).within(start, end)
            for sym, rows in collected.items()
        }
