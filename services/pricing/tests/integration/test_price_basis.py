"""Stored bars keep their provider's price basis over a real Postgres: an adjusted read
applies only what that basis lacks, a failover never mixes bases into one series, and a
series that is mixed anyway is refused for adjusted reads."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from pricing.app import build_router
from pricing.domain.bars import CorporateAction, FetchResult, Interval, PriceBar, PriceBasis
from pricing.domain.calendars import session_calendar
from pricing.domain.chain import ProviderChain
from pricing.service import RefreshOutcome, refresh_instrument

from .conftest import query

pytestmark = pytest.mark.integration

SESSIONS = session_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 19))
SPLIT_EX, DIVIDEND_EX = dt.date(2024, 1, 4), dt.date(2024, 1, 8)
# As traded: 100, 102, then a 2:1 split on 01-04 (51, 52, 53, ...); a 1.04 dividend goes
# ex on 01-08 after a 52 close, so earlier prices are scaled by 1 - 1.04/52 = 0.98.
RAW_CLOSES = [100.0, 102.0] + [49.0 + i for i in range(2, len(SESSIONS))]
SPLIT_CLOSES = [c / 2 if d < SPLIT_EX else c for d, c in zip(SESSIONS, RAW_CLOSES, strict=True)]
SPLIT_DIVIDEND_CLOSES = [
    c * 0.98 if d < DIVIDEND_EX else c for d, c in zip(SESSIONS, SPLIT_CLOSES, strict=True)
]
CLOSES = {
    PriceBasis.RAW: RAW_CLOSES,
    PriceBasis.SPLIT: SPLIT_CLOSES,
    PriceBasis.SPLIT_DIVIDEND: SPLIT_DIVIDEND_CLOSES,
}
# Fully adjusted, worked by hand: 100 x 0.5 x 0.98, 102 x 0.5 x 0.98, 51 x 0.98, 52 x 0.98, 53.
ADJUSTED_FIRST_WEEK = [49.0, 49.98, 49.98, 50.96, 53.0]


class FixedSource:
    """One provider returning the series above in its basis, with the split and dividend
    (amounts in that basis: the split does not change a dividend after it)."""

    def __init__(self, name: str, basis: PriceBasis) -> None:
        self.name = name
        self.basis = basis
        self.calls = 0

    async def fetch(
        self, *, symbol: str, start: dt.date, end: dt.date, interval: Interval
    ) -> FetchResult:
        self.calls += 1
        bars = tuple(
            PriceBar(
                symbol=symbol,
                trading_date=day,
                open=close,
                high=close + 1,
                low=close - 1,
                close=close,
                # Adjusted providers scale volumes with the split, as they do prices.
                volume=1000.0 if self.basis is PriceBasis.RAW or day >= SPLIT_EX else 2000.0,
                provider=self.name,
            )
            for day, close in zip(SESSIONS, CLOSES[self.basis], strict=True)
            if start <= day <= end
        )
        actions = (
            CorporateAction.split(symbol, SPLIT_EX, 2.0),
            CorporateAction.dividend(symbol, DIVIDEND_EX, 1.04),
        )
        return FetchResult(
            symbol=symbol,
            provider=self.name,
            interval=interval,
            bars=bars,
            actions=tuple(a for a in actions if start <= a.ex_date <= end),
            basis=self.basis,
        )


async def refresh(
    engine: AsyncEngine, symbol: str, chain: ProviderChain, end: dt.date
) -> RefreshOutcome:
    return await refresh_instrument(
        engine=engine,
        chain=chain,
        instrument_id=f"BBG-{symbol}",
        symbol=symbol,
        figi=None,
        start=SESSIONS[0],
        end=end,
        correlation_id=None,
        universe_entry={"figi": None, "id_type": "TICKER", "id_value": symbol, "exch_code": "US"},
    )


async def get(engine: AsyncEngine, symbol: str, **params: str) -> httpx.Response:
    app = FastAPI()
    app.include_router(build_router(SimpleNamespace(engine=engine)))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pricing") as http:
        return await http.get(f"/bars/{symbol}", params=params)


@pytest.mark.parametrize(
    ("provider", "basis"),
    [
        ("alpaca", PriceBasis.RAW),
        ("yahoo", PriceBasis.SPLIT),
        ("stooq", PriceBasis.SPLIT_DIVIDEND),
    ],
)
async def test_adjusted_read_applies_only_what_the_stored_basis_lacks(
    engine: AsyncEngine, provider: str, basis: PriceBasis
) -> None:
    outcome = await refresh(
        engine, "ACME", ProviderChain([FixedSource(provider, basis)]), end=SESSIONS[4]
    )
    assert outcome.stored == 5
    stored = await query(engine, "SELECT DISTINCT basis FROM bars_daily")
    assert stored == [(basis.value,)]

    as_stored = (await get(engine, "ACME")).json()
    adjusted = (await get(engine, "ACME", adjusted="true")).json()

    assert as_stored["basis"] == basis.value
    assert {b["basis"] for b in as_stored["bars"]} == {basis.value}
    assert [b["close"] for b in as_stored["bars"]] == CLOSES[basis][:5]
    # Only a raw series is as traded; the others say what they are instead of pretending.
    assert ("note" in as_stored) is (basis is not PriceBasis.RAW)
    assert adjusted["basis"] == "split_dividend"
    # Whatever the stored basis, one adjusted series: a split already in the prices is
    # not applied again (that would give 24.5 for 01-02).
    assert [b["close"] for b in adjusted["bars"]] == pytest.approx(ADJUSTED_FIRST_WEEK)
    assert [b["volume"] for b in adjusted["bars"]] == [2000.0, 2000.0, 1000.0, 1000.0, 1000.0]
    assert [a["type"] for a in adjusted["actions"]] == ["split", "dividend"]


async def test_failover_keeps_one_basis_and_quarantines_what_would_mix(
    engine: AsyncEngine,
) -> None:
    yahoo = FixedSource("yahoo", PriceBasis.SPLIT)
    first = await refresh(engine, "ACME", ProviderChain([yahoo]), end=SESSIONS[4])
    assert first.stored == 5

    # The raw provider comes first in the chain but would mix bases: passed over, the
    # split-adjusted provider fills the week.
    alpaca = FixedSource("alpaca", PriceBasis.RAW)
    second = await refresh(engine, "ACME", ProviderChain([alpaca, yahoo]), end=SESSIONS[8])
    assert second.attempts == ("alpaca:basis_mismatch", "yahoo:ok")
    assert (second.stored, second.provider) == (4, "yahoo")

    # Only the raw provider left: nothing stored, its bars kept in quarantine, and the
    # range is still missing, so the next refresh asks again.
    third = await refresh(engine, "ACME", ProviderChain([alpaca]), end=SESSIONS[-1])
    assert third.attempts == ("alpaca:basis_mismatch",)
    assert (third.stored, third.rejected, third.ranges) == (0, 4, ("2024-01-16..2024-01-19",))
    rows = await query(
        engine, "SELECT basis, provider, count(*) FROM bars_daily GROUP BY basis, provider"
    )
    assert [tuple(r) for r in rows] == [("split", "yahoo", 9)]
    quarantined = await query(
        engine, "SELECT provider, reason, bar_key, detail FROM bar_quarantine ORDER BY bar_key"
    )
    assert [(r.provider, r.reason, r.bar_key) for r in quarantined] == [
        ("alpaca", "basis_mismatch", d.isoformat()) for d in SESSIONS[9:]
    ]
    assert "alpaca returns raw prices; the stored series is split" in quarantined[0].detail
    again = await refresh(engine, "ACME", ProviderChain([alpaca]), end=SESSIONS[-1])
    assert again.ranges == ("2024-01-16..2024-01-19",)

    adjusted = (await get(engine, "ACME", adjusted="true")).json()
    assert [b["close"] for b in adjusted["bars"][:5]] == pytest.approx(ADJUSTED_FIRST_WEEK)
    assert [b["close"] for b in adjusted["bars"][5:]] == SPLIT_CLOSES[5:9]


async def test_a_stored_series_mixing_bases_is_refused_adjusted_and_labelled_as_stored(
    engine: AsyncEngine,
) -> None:
    await refresh(
        engine, "ACME", ProviderChain([FixedSource("alpaca", PriceBasis.RAW)]), end=SESSIONS[1]
    )
    later = await FixedSource("yahoo", PriceBasis.SPLIT).fetch(
        symbol="ACME", start=SESSIONS[2], end=SESSIONS[4], interval=Interval.D1
    )
    async with engine.begin() as conn:
        await store.copy_daily_bars(conn, "BBG-ACME", later.bars, basis=PriceBasis.SPLIT)

    adjusted = await get(engine, "ACME", adjusted="true")
    as_stored = (await get(engine, "ACME")).json()

    assert adjusted.status_code == 409
    detail = adjusted.json()["detail"]
    assert "mix price bases" in detail
    assert "raw 2024-01-02..2024-01-03 (2 bars from alpaca)" in detail
    assert "split 2024-01-04..2024-01-08 (3 bars from yahoo)" in detail
    assert as_stored["basis"] == "mixed"
    assert [b["basis"] for b in as_stored["bars"]] == ["raw", "raw", "split", "split", "split"]
    assert "mix price bases" in as_stored["note"]
    # A range inside one run is a single-basis read.
    one_run = (await get(engine, "ACME", start="2024-01-04")).json()
    assert one_run["basis"] == "split"
