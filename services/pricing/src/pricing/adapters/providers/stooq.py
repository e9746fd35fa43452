"""Stooq daily CSV. Errors and key/anti-bot pages come as HTTP 200, so the body must
start with the CSV header to count as data (spec providers.md section 7)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time

import httpx

from pricing.adapters.providers._http import HttpProvider, status_error
from pricing.adapters.providers._rows import OhlcvKeys, SeriesBuilder
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.errors import EmptyData, InvalidData, ProviderError, RateLimited
from pricing.domain.timestamps import zone
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.limiter import RateLimiter

NAME = "stooq"
DEFAULT_BASE_URL = "https://stooq.com"
DEFAULT_LIMIT = (30, 60.0)  # no published limit; a daily hit cap exists
HEADER = "Date,Open,High,Low,Close"
_KEYS = OhlcvKeys("Open", "High", "Low", "Close", "Volume")

# Market suffix -> (time zone, regular close) to tell a finished day from a forming one.
_MARKETS = {
    "us": ("America/New_York", time(16, 0)),
    "uk": ("Europe/London", time(16, 30)),
    "de": ("Europe/Berlin", time(17, 30)),
    "jp": ("Asia/Tokyo", time(15, 0)),
}


def stooq_symbol(symbol: str) -> str:
    """`AAPL` -> `aapl.us`; symbols with a market suffix or an index caret pass as is."""
    lowered = symbol.lower()
    return lowered if "." in lowered or lowered.startswith("^") else f"{lowered}.us"


def parse_csv(text: str, *, symbol: str, now: datetime | None = None) -> FetchResult:
    """The CSV body as a result. The last row is partial when it is today's row and the
    market has not closed yet (Stooq serves a mid-session bar, e.g. SPY 2026-02-09)."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.lower().startswith("no data"):
        raise EmptyData(NAME, "Stooq says 'No data'")
    if "exceeded the daily hits limit" in stripped.lower():
        raise RateLimited(NAME, stripped[:100])
    if stripped.lower().startswith(("<!doctype", "<html")) or "<html" in stripped[:500].lower():
        if "apikey" in stripped.lower() or "get_apikey" in stripped.lower():
            raise ProviderError(NAME, "Stooq returned an HTML page asking for an API key")
        raise ProviderError(NAME, "Stooq returned an HTML page instead of CSV (anti-bot check?)")
    if not stripped.startswith(HEADER):
        raise InvalidData(NAME, f"body does not start with {HEADER!r}: {stripped[:60]!r}")
    market = stooq_symbol(symbol).rsplit(".", 1)[-1]
    tz, close_time = _MARKETS.get(market, _MARKETS["us"])
    builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=Interval.D1)
    for row in csv.DictReader(io.StringIO(stripped)):
        builder.add_row(
            row,
            _KEYS,
            position=row["Date"],
            trading_date=date.fromisoformat(row["Date"]),
            ts=None,
            adj_close=row.get("Close"),  # OHLC are already split+dividend adjusted
        )
    bars = builder.ascending()
    local_now = (now or datetime.now(UTC)).astimezone(zone(tz))
    if bars and bars[-1].trading_date == local_now.date() and local_now.time() < close_time:
        bars[-1] = replace(bars[-1], is_partial=True)
    return builder.result(basis=PriceBasis.SPLIT_DIVIDEND, exchange_timezone=tz, bars=bars)


class StooqProvider(HttpProvider):
    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (DEFAULT_LIMIT,)

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        api_key: str | None = None,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            client=client, base_url=base_url, api_key=api_key, limiter=limiter, breaker=breaker
        )
        self._clock = clock

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        if interval is not Interval.D1:
            raise ProviderError(NAME, "Stooq serves daily, weekly and monthly bars only")
        params = {
            "s": stooq_symbol(symbol),
            "i": "d",
            "d1": start.strftime("%Y%m%d"),
            "d2": end.strftime("%Y%m%d"),
        }
        if self.api_key:
            params["apikey"] = self.api_key  # required since ~2026-03 (pandas-datareader #1012)
        response = await self._http.get(f"{self.base_url}/q/d/l/", params=params)
        if response.status_code >= 400:
            raise status_error(NAME, response)
        try:
            result = parse_csv(response.text, symbol=symbol, now=self._clock())
        except RateLimited as exc:
            raise self._http.rate_limited(exc.message, None) from exc
        return result.within(start, end)
