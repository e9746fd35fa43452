"""Polygon.io (now Massive) aggregates: unix-ms bars, `next_url` pagination, absent
`results` for no data (spec providers.md section 6)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from pricing.adapters.providers._http import HttpProvider, json_body, status_error
from pricing.adapters.providers._rows import LETTER_KEYS, SeriesBuilder, merge_results
from pricing.domain.bars import (
    CorporateAction,
    FetchResult,
    FundamentalsSnapshot,
    Interval,
    PriceBasis,
)
from pricing.domain.errors import InvalidData, ProviderError
from pricing.domain.timestamps import NEW_YORK, parse_number, utc_from_epoch_ms
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.limiter import RateLimiter

NAME = "polygon"
DEFAULT_BASE_URL = "https://api.polygon.io"
DEFAULT_LIMIT = (5, 60.0)  # free tier: 5 requests/min (massive-com/client-python #870)
MAX_PAGE = 50_000

_SPANS = {
    Interval.M1: (1, "minute"),
    Interval.M5: (5, "minute"),
    Interval.M15: (15, "minute"),
    Interval.M30: (30, "minute"),
    Interval.H1: (1, "hour"),
    Interval.D1: (1, "day"),
}


def _error_detail(body: Any) -> str:
    return str(body.get("error") or body.get("message") if isinstance(body, dict) else body)


def parse_aggregates(body: Any, *, symbol: str, interval: Interval = Interval.D1) -> FetchResult:
    """One aggregates page. `t` is unix ms at the window start (New York midnight for
    daily bars), `v` may be an exponent float; `results` is absent when there is no data."""
    if not isinstance(body, dict):
        raise InvalidData(NAME, f"not an aggregates body: {str(body)[:120]!r}")
    status = str(body.get("status", ""))
    if status in {"ERROR", "NOT_AUTHORIZED"}:
        raise ProviderError(NAME, str(body.get("error") or body.get("message") or status))
    builder = SeriesBuilder(
        symbol=str(body.get("ticker") or symbol), provider=NAME, interval=interval
    )
    for i, row in enumerate(body.get("results") or []):
        instant = utc_from_epoch_ms(row["t"])
        builder.add_row(
            row,
            LETTER_KEYS,
            position=f"results[{i}] t={row['t']}",
            trading_date=builder.trading_date_of(instant, NEW_YORK),
            ts=instant,
        )
    # fetch() asks for adjusted=true, which Polygon applies to splits only
    return builder.result(basis=PriceBasis.SPLIT, currency="USD", exchange_timezone=NEW_YORK)


def parse_splits(body: Any) -> list[CorporateAction]:
    """v3/reference/splits: `split_to` new shares for `split_from` old on `execution_date`."""
    return [
        CorporateAction.split(
            str(row["ticker"]),
            date.fromisoformat(str(row["execution_date"])),
            float(row["split_to"]) / float(row["split_from"]),
        )
        for row in (body or {}).get("results") or []
    ]


def parse_dividends(body: Any) -> list[CorporateAction]:
    """v3/reference/dividends: `cash_amount` per share on `ex_dividend_date`."""
    return [
        CorporateAction.dividend(
            str(row["ticker"]),
            date.fromisoformat(str(row["ex_dividend_date"])),
            float(row["cash_amount"]),
        )
        for row in (body or {}).get("results") or []
    ]


def parse_ticker_details(body: Any, *, as_of: date) -> FundamentalsSnapshot:
    """v3/reference/tickers/{T}: market cap and share-class shares outstanding."""
    details = (body or {}).get("results") or {}
    if "ticker" not in details:
        raise InvalidData(NAME, "ticker details body has no results.ticker")
    return FundamentalsSnapshot(
        symbol=str(details["ticker"]),
        as_of=as_of,
        provider=NAME,
        market_cap=parse_number(details.get("market_cap")),
        shares_outstanding=parse_number(details.get("share_class_shares_outstanding")),
        currency=str(details.get("currency_name", "")).upper() or None,
    )


class PolygonProvider(HttpProvider):
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
        max_pages: int = 100,
    ) -> None:
        super().__init__(
            client=client, base_url=base_url, api_key=api_key, limiter=limiter, breaker=breaker
        )
        self.max_pages = max_pages

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        multiplier, span = _SPANS[interval]
        url = (
            f"{self.base_url}/v2/aggs/ticker/{symbol}/range/{multiplier}/{span}/"
            f"{start.isoformat()}/{end.isoformat()}"
        )
        params: dict[str, Any] = {"adjusted": "true", "sort": "asc", "limit": MAX_PAGE}
        pages: list[FetchResult] = []
        for _ in range(self.max_pages):
            params["apiKey"] = self.api_key
            response = await self._http.get(url, params=params)
            body = json_body(response, NAME)
            if response.status_code >= 400:
                raise status_error(NAME, response, _error_detail(body))
            pages.append(parse_aggregates(body, symbol=symbol, interval=interval))
            next_url = body.get("next_url")
            if not next_url:
                break
            # Follow the cursor on our own base URL (the emulator in sandbox mode) and
            # re-add the key, which next_url leaves out (OpenBB polygon fetcher does too).
            parts = urlsplit(next_url)
            url = f"{self.base_url}{parts.path}"
            params = dict(parse_qsl(parts.query))
        else:
            raise InvalidData(NAME, f"more than {self.max_pages} pages for {symbol}")
        return merge_results(pages).within(start, end)

    async def ticker_details(self, *, symbol: str, as_of: date) -> FundamentalsSnapshot:
        """Market cap and share-class shares outstanding as of a date (v3 reference tickers)."""
        response = await self._http.get(
            f"{self.base_url}/v3/reference/tickers/{symbol}",
            params={"date": as_of.isoformat(), "apiKey": self.api_key},
        )
        body = json_body(response, NAME)
        if response.status_code >= 400:
            raise status_error(NAME, response, _error_detail(body))
        return parse_ticker_details(body, as_of=as_of)
