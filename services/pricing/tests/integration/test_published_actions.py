"""A market.bars.v1 batch tells consumers the closes' basis and carries the splits and
dividends of the refreshed range, so an index downstream can apply what still applies."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters.providers.sandbox import sandbox_series
from pricing.domain.bars import CorporateAction, FetchResult, Interval, PriceBasis
from pricing.domain.chain import ProviderChain
from pricing.service import refresh_instrument
from secmaster_common.db.tables import outbox

pytestmark = pytest.mark.integration

EX_DATE = dt.date(2024, 1, 17)


class SplitAdjustedSource:
    """The sandbox series presented as a split-adjusted provider with one dividend."""

    name = "yahoo"

    async def fetch(
        self, *, symbol: str, start: dt.date, end: dt.date, interval: Interval
    ) -> FetchResult:
        series = sandbox_series(symbol, start, end)
        bars = tuple(replace(b, provider=self.name, synthetic=False) for b in series.bars)
        return FetchResult(
            symbol=symbol,
            provider=self.name,
            interval=interval,
            bars=bars,
            actions=(CorporateAction.dividend(symbol, EX_DATE, 0.24),),
            basis=PriceBasis.SPLIT,
        )


async def test_bars_batch_carries_basis_and_actions(engine: AsyncEngine) -> None:
    outcome = await refresh_instrument(
        engine=engine,
        chain=ProviderChain([SplitAdjustedSource()]),
        instrument_id="BBG-ACME",
        symbol="ACME",
        figi=None,
        start=dt.date(2024, 1, 2),
        end=dt.date(2024, 1, 31),
        correlation_id=None,
        universe_entry={"figi": None, "id_type": "TICKER", "id_value": "ACME", "exch_code": "US"},
    )
    assert outcome.published == outcome.stored > 0
    async with engine.connect() as conn:
        values = (await conn.execute(sa.select(outbox.c.value))).scalars().all()
    [payload] = [json.loads(v)["payload"] for v in values]
    assert payload["basis"] == "split"
    assert payload["actions"] == [
        {"type": "dividend", "date": "2024-01-17", "ratio": None, "amount": 0.24}
    ]
