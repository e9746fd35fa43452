"""Alpha Vantage: daily and intraday series and OVERVIEW fundamentals. Every error comes
back as HTTP 200, so each body is classified before it is read (spec section 2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from pricing.adapters.providers._http import HttpProvider, json_body, status_error
from pricing.adapters.providers._rows import OhlcvKeys, SeriesBuilder, merge_results
from pricing.domain.bars import (
    CorporateAction,
    FetchResult,
    FundamentalsSnapshot,
    Interval,
    PriceBasis,
)
from pricing.domain.errors import InvalidData, ProviderError, RateLimited
from pricing.domain.timestamps import parse_local, parse_number

NAME = "alphavantage"
DEFAULT_BASE_URL = "https://www.alphavantage.co"
# Free key: about 1 request/second burst and 25 requests/day (home-assistant PR #31996).
BURST_LIMIT = (1, 1.0)
DAILY_LIMIT = (25, 86_400.0)
_US_CLOSE = time(16, 0)
# Adjusted series put the adjusted close at "5." and move the volume to "6.".
_KEYS = OhlcvKeys("1. open", "2. high", "3. low", "4. close", "5. volume")
_ADJUSTED_KEYS = OhlcvKeys("1. open", "2. high", "3. low", "4. close", "6. volume")

_INTERVALS = {
    Interval.M1: "1min",
    Interval.M5: "5min",
    Interval.M15: "15min",
    Interval.M30: "30min",
    Interval.H1: "60min",
}


def classify_body(body: Any) -> None:
    """Raise the typed failure an HTTP-200 error body stands for (alpha_vantage
    _handle_api_call checks the same three keys)."""
    if not isinstance(body, dict):
        raise InvalidData(NAME, f"not a JSON object: {str(body)[:120]!r}")
    if "Error Message" in body:
        raise ProviderError(NAME, str(body["Error Message"]))
    for key in ("Information", "Note"):
        if key in body:
            text = str(body[key])
            lowered = text.lower()
            if "this is a premium endpoint" in lowered:
                raise ProviderError(NAME, text)
            # Burst ("1 request per second"), legacy per-minute ("5 calls per minute")
            # or the daily quota ("25 requests per day", no useful wait).
            retry = 1.0 if "sparingly" in lowered else 60.0 if "per minute" in lowered else None
            raise RateLimited(NAME, text, retry_after=retry)


def parse_time_series(body: Any, *, interval: Interval = Interval.D1) -> FetchResult:
    """A TIME_SERIES_* JSON body, newest-first string values, as an ascending result.

    A daily series whose "Last Refreshed" carries a time before the 16:00 close ends in a
    partial bar; so does an intraday series whose last bar starts at "Last Refreshed"
    before the close (the data stopped mid-session).
    """
    classify_body(body)
    meta = body.get("Meta Data") or {}
    series_key = next((k for k in body if k.startswith("Time Series")), None)
    if series_key is None:
        raise InvalidData(NAME, f"no time series in body with keys {sorted(body)}")
    symbol = str(meta.get("2. Symbol", ""))
    tz = str(meta.get("5. Time Zone") or meta.get("6. Time Zone") or "US/Eastern")
    refreshed_text = str(meta.get("3. Last Refreshed", ""))
    builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=interval)
    actions: list[CorporateAction] = []
    adjusted = False
    for stamp, row in body[series_key].items():
        trading_date, instant = parse_local(stamp, tz)
        if "5. adjusted close" in row:
            adjusted = True
            dividend = parse_number(row.get("7. dividend amount"))
            split = parse_number(row.get("8. split coefficient"))
            if dividend:
                actions.append(CorporateAction.dividend(symbol, trading_date, dividend))
            if split and split != 1.0:
                actions.append(CorporateAction.split(symbol, trading_date, split))
        builder.add_row(
            row,
            _ADJUSTED_KEYS if adjusted else _KEYS,
            position=stamp,
            trading_date=trading_date,
            ts=instant,
            adj_close=row.get("5. adjusted close"),
        )
    bars = builder.ascending()
    if bars and len(refreshed_text) > 10:
        refreshed = datetime.fromisoformat(refreshed_text)
        last = bars[-1]
        if refreshed.time() < _US_CLOSE and last.trading_date == refreshed.date():
            starts_at_refresh = last.ts is None or parse_local(refreshed_text, tz)[1] == last.ts
            if starts_at_refresh:
                bars[-1] = replace(last, is_partial=True)
    return builder.result(
        basis=PriceBasis.RAW,
        currency="USD",
        exchange_timezone="America/New_York" if tz == "US/Eastern" else tz,
        bars=bars,
        actions=actions,
    )


def parse_overview(body: Any) -> FundamentalsSnapshot:
    """OVERVIEW: every value a string, "None" when missing; dated by LatestQuarter."""
    classify_body(body)
    if "Symbol" not in body:
        raise InvalidData(NAME, "OVERVIEW body has no Symbol (unknown symbols give {})")
    as_of_text = body.get("LatestQuarter")
    return FundamentalsSnapshot(
        symbol=str(body["Symbol"]),
        as_of=date.fromisoformat(as_of_text) if as_of_text not in (None, "None") else date.min,
        provider=NAME,
        market_cap=parse_number(body.get("MarketCapitalization")),
        shares_outstanding=parse_number(body.get("SharesOutstanding")),
        currency=body.get("Currency"),
    )


def _months(start: date, end: date) -> list[str]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class AlphaVantageProvider(HttpProvider):
    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (BURST_LIMIT, DAILY_LIMIT)

    async def _query(self, params: dict[str, Any]) -> Any:
        response = await self._http.get(
            f"{self.base_url}/query", params={**params, "apikey": self.api_key}
        )
        body = json_body(response, NAME)
        if response.status_code >= 400:
            raise status_error(NAME, response, str(body)[:200])
        try:
            classify_body(body)
        except RateLimited as exc:
            raise self._http.rate_limited(exc.message, exc.retry_after) from exc
        return body

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        if not interval.is_intraday:
            # TIME_SERIES_DAILY_ADJUSTED is premium on free keys; the plain series is raw.
            body = await self._query(
                {"function": "TIME_SERIES_DAILY", "symbol": symbol, "outputsize": "full"}
            )
            return parse_time_series(body, interval=interval).within(start, end)
        parts = []
        for month in _months(start, end):
            body = await self._query(
                {
                    "function": "TIME_SERIES_INTRADAY",
                    "symbol": symbol,
                    "interval": _INTERVALS[interval],
                    "month": month,
                    "outputsize": "full",
                    "extended_hours": "false",
                    "adjusted": "false",
                }
            )
            parts.append(parse_time_series(body, interval=interval))
        return merge_results(parts).within(start, end)

    async def fundamentals(self, *, symbol: str) -> FundamentalsSnapshot:
        return parse_overview(await self._query({"function": "OVERVIEW", "symbol": symbol}))
