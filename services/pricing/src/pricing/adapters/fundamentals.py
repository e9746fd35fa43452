"""Fundamentals sources (shares outstanding, market cap) over the provider adapters that
have them: Alpha Vantage OVERVIEW, Polygon ticker details, FMP market capitalization."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from pricing.adapters.providers import AlphaVantageProvider, FmpProvider, PolygonProvider
from pricing.domain.bars import FundamentalsSnapshot
from pricing.domain.errors import EmptyData
from pricing.domain.fundamentals import FundamentalsSource

# FMP dates market caps by trading day; two weeks back always holds the last session.
_FMP_LOOKBACK = timedelta(days=14)


class AlphaVantageFundamentals:
    name = "alphavantage"

    def __init__(self, provider: AlphaVantageProvider) -> None:
        self.provider = provider

    async def fundamentals(self, *, symbol: str, as_of: date) -> FundamentalsSnapshot:
        # OVERVIEW has no as-of parameter: it answers as of its LatestQuarter.
        return await self.provider.fundamentals(symbol=symbol)


class PolygonFundamentals:
    name = "polygon"

    def __init__(self, provider: PolygonProvider) -> None:
        self.provider = provider

    async def fundamentals(self, *, symbol: str, as_of: date) -> FundamentalsSnapshot:
        return await self.provider.ticker_details(symbol=symbol, as_of=as_of)


class FmpFundamentals:
    name = "fmp"

    def __init__(self, provider: FmpProvider) -> None:
        self.provider = provider

    async def fundamentals(self, *, symbol: str, as_of: date) -> FundamentalsSnapshot:
        found = await self.provider.market_cap(
            symbol=symbol, start=as_of - _FMP_LOOKBACK, end=as_of
        )
        if not found:
            raise EmptyData(self.name, f"no market cap for {symbol} up to {as_of}")
        return found[-1]


FUNDAMENTALS_PROVIDERS = ("alphavantage", "polygon", "fmp")


def build_fundamentals_source(
    name: str, *, client: httpx.AsyncClient, base_url: str | None = None, api_key: str | None = None
) -> FundamentalsSource:
    """A fundamentals source by provider name (`base_url` default: the real provider)."""
    if name == "alphavantage":
        return AlphaVantageFundamentals(
            AlphaVantageProvider(client=client, api_key=api_key, base_url=base_url)
        )
    if name == "polygon":
        return PolygonFundamentals(
            PolygonProvider(client=client, api_key=api_key, base_url=base_url)
        )
    if name == "fmp":
        return FmpFundamentals(FmpProvider(client=client, api_key=api_key, base_url=base_url))
    raise ValueError(
        f"{name!r} has no fundamentals; choose among {', '.join(FUNDAMENTALS_PROVIDERS)}"
    )
