"""Run-time failover over a real Postgres and the provider emulator on a socket: the first
provider rate-limits, the second has no data, the third's bars are stored, each exactly
once; a second refresh fetches, stores and publishes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.composition import build_chain
from pricing.domain.calendars import session_calendar
from pricing.service import refresh_instrument
from pricing.settings import PricingSettings
from secmaster_emulators.providers import synthetic_day

from .conftest import Emulator, query

pytestmark = pytest.mark.integration

START, END = dt.date(2024, 1, 2), dt.date(2024, 3, 28)
INSTRUMENT = "BBG000FAILOVR"


def settings_for(url: str, providers: str) -> PricingSettings:
    names = providers.split(",")
    return PricingSettings(
        pricing_providers=providers,
        pricing_base_urls=dict.fromkeys(names, url),
        pricing_api_keys={"polygon": SecretStr("pk"), "alpaca": SecretStr("id:secret")},
    )


async def refresh(engine: AsyncEngine, chain: Any, end: dt.date = END) -> Any:
    return await refresh_instrument(
        engine=engine,
        chain=chain,
        instrument_id=INSTRUMENT,
        symbol="ACME",
        figi=INSTRUMENT,
        start=START,
        end=end,
        correlation_id="failover-test",
        universe_entry={
            "figi": INSTRUMENT,
            "id_type": "TICKER",
            "id_value": "ACME",
            "exch_code": "US",
        },
    )


async def test_429_then_empty_then_good_stores_the_third_providers_bars_once(
    engine: AsyncEngine,
    emulator: Emulator,
    publish: Callable[[], Awaitable[int]],
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
    test_topics: Any,
) -> None:
    emulator.fault(provider="polygon", kind="rate_limit", count=None, retry_after_s=1)
    emulator.fault(provider="alpaca", kind="empty", count=None)
    async with httpx.AsyncClient() as http:
        chain = build_chain(settings_for(emulator.url, "polygon,alpaca,yahoo"), http)

        first = await refresh(engine, chain)

        sessions = session_calendar("XNYS").sessions(START, END)
        assert first.attempts == ("polygon:rate_limited", "alpaca:empty", "yahoo:ok")
        assert (first.provider, first.stored, first.rejected) == ("yahoo", len(sessions), 0)
        stored = await query(
            engine,
            "SELECT trading_date, open, high, low, close, volume, provider FROM bars_daily "
            "WHERE instrument_id = :i ORDER BY trading_date",
            i=INSTRUMENT,
        )
        assert [r.trading_date for r in stored] == sessions  # none lost, none doubled
        assert {r.provider for r in stored} == {"yahoo"}
        for row in stored:
            truth = synthetic_day("ACME", row.trading_date)
            assert truth is not None
            assert (row.open, row.high, row.low, row.close, row.volume) == pytest.approx(
                (truth.open, truth.high, truth.low, truth.close, truth.volume)
            )
        assert await publish() == 1
        events = await read(test_topics.bars)
        assert len(events) == 1
        batch = events[0]
        assert batch["_key"] == INSTRUMENT and batch["payload"]["provider"] == "yahoo"
        assert [b["date"] for b in batch["payload"]["bars"]] == [d.isoformat() for d in sessions]

        # Again: every session is stored, so no provider is asked and nothing is published.
        seen = len(emulator.requests())
        again = await refresh(engine, chain)
        assert (again.stored, again.published, again.ranges, again.attempts) == (0, 0, (), ())
        assert len(emulator.requests()) == seen
        assert await publish() == 0
        assert len(await read(test_topics.bars)) == 1
        assert await query(
            engine, "SELECT count(*) FROM bars_daily WHERE instrument_id = :i", i=INSTRUMENT
        ) == [(len(sessions),)]

        # A week later only the new sessions are fetched (2024-03-29 is Good Friday).
        later = await refresh(engine, chain, end=dt.date(2024, 4, 5))
        assert later.ranges == ("2024-04-01..2024-04-05",)
        assert (later.stored, later.published) == (5, 5)
        yahoo_calls = emulator.requests("yahoo")
        asked = yahoo_calls[-1]["query"]
        first_asked = dt.datetime.fromtimestamp(int(asked["period1"]), dt.UTC).date()
        assert first_asked >= dt.date(2024, 3, 31)
        assert await publish() == 1
        events = await read(test_topics.bars)
        assert len(events) == 2
        assert [b["date"] for b in events[-1]["payload"]["bars"]] == [
            f"2024-04-0{d}" for d in range(1, 6)
        ]
