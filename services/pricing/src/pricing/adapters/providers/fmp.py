"""Financial Modeling Prep "stable" endpoints: end-of-day bars (flat array, newest first,
no adjClose) and historical market capitalization (spec providers.md section 4)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pricing.adapters.providers._http import HttpProvider
from pricing.adapters.providers._rows import WORD_KEYS, SeriesBuilder
from pricing.domain.bars import FetchResult, FundamentalsSnapshot, Interval, PriceBasis
from pricing.domain.errors import InvalidData, ProviderError
from pricing.domain.timestamps import parse_local, parse_number

NAME = "fmp"
DEFAULT_BASE_URL = "https://financialmodelingprep.com"
# ~250 requests/day is the commonly reported free quota (not verified by the spec).
DEFAULT_LIMIT = (250, 86_400.0)


def _error_message(body: Any, text: str) -> str | None:
    if isinstance(body, dict) and "Error Message" in body:
        return str(body["Error Message"])
    if body is None and text.strip():
        return text.strip()[:200]  # 402 "Premium Query Parameter: ..." is plain text
    return None


def parse_eod(body: Any, *, symbol: str) -> FetchResult:
    """Stable historical-price-eod/full rows (exchange-local dates) as an ascending result."""
    if not isinstance(body, list):
        raise InvalidData(NAME, f"expected a JSON array, got {type(body).__name__}")
    builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=Interval.D1)
    for row in body:
        trading_date, _ = parse_local(str(row["date"]), "America/New_York")
        builder.add_row(
            row,
            WORD_KEYS,
            position=str(row["date"]),
            trading_date=trading_date,
            ts=None,
            adj_close=row.get("adjClose"),
        )
    return builder.result(basis=PriceBasis.SPLIT)


def parse_market_cap(body: Any) -> list[FundamentalsSnapshot]:
    if not isinstance(body, list):
        raise InvalidData(NAME, f"expected a JSON array, got {type(body).__name__}")
    return sorted(
        (
            FundamentalsSnapshot(
                symbol=str(row["symbol"]),
                as_of=date.fromisoformat(str(row["date"])),
                provider=NAME,
                market_cap=parse_number(row.get("marketCap")),
            )
            for row in body
        ),
        key=lambda s: s.as_of,
    )


class FmpProvider(HttpProvider):
    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (DEFAULT_LIMIT,)

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        response = await self._http.get(
            f"{self.base_url}{path}", params={**params, "apikey": self.api_key}
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        message = _error_message(body, response.text)
        if message is not None or response.status_code >= 400:
            text = message or f"HTTP {response.status_code}"
            # "Limit Reach . Please upgrade your plan" is the daily cap, seen with 429 and 200.
            if "Limit Reach" in text:
                raise self._http.rate_limited(text, None)
            raise ProviderError(NAME, text, status=response.status_code)
        return body

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        if interval is not Interval.D1:
            raise ProviderError(NAME, "only daily bars are fetched from FMP's stable EOD endpoint")
        body = await self._get(
            "/stable/historical-price-eod/full",
            {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()},
        )
        return parse_eod(body, symbol=symbol).within(start, end)

    async def market_cap(
        self, *, symbol: str, start: date, end: date
    ) -> list[FundamentalsSnapshot]:
        body = await self._get(
            "/stable/historical-market-capitalization",
            {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat(), "limit": 5000},
        )
        return parse_market_cap(body)
