"""Fundamentals over a real Postgres, the real broker and the provider emulator: fields
combined by the configured provider priority, a TTL that spares API calls, and
`market.fundamentals.v1` published only when the combined view changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters.fundamentals import build_fundamentals_source
from pricing.service import refresh_fundamentals
from secmaster_emulators.providers.app import av_overview, polygon_ticker

from .conftest import Emulator, query

pytestmark = pytest.mark.integration

NOW = dt.datetime(2024, 3, 28, 22, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(hours=24)


async def test_priority_ttl_and_publication(
    engine: AsyncEngine,
    emulator: Emulator,
    publish: Callable[[], Awaitable[int]],
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
    test_topics: Any,
) -> None:
    async with httpx.AsyncClient() as http:

        def sources(order: str) -> list[Any]:
            return [
                build_fundamentals_source(n, client=http, base_url=emulator.url, api_key="k")
                for n in order.split(",")
            ]

        async def run(order: str, now: dt.datetime = NOW) -> Any:
            return await refresh_fundamentals(
                engine=engine,
                sources=sources(order),
                instrument_id="BBG-ACME",
                symbol="ACME",
                ttl=TTL,
                now=now,
                correlation_id="fundamentals-test",
            )

        polygon = polygon_ticker("ACME", NOW.date())["results"]
        first = await run("polygon,alphavantage")
        # Polygon has both fields, so Alpha Vantage (lower priority) is never asked.
        assert (first.asked, first.published) == (("polygon",), True)
        assert first.view is not None and first.view.source == "polygon"
        assert first.view.market_cap == pytest.approx(polygon["market_cap"])
        assert first.view.shares_outstanding == polygon["share_class_shares_outstanding"]

        # Within the TTL nothing is fetched and nothing republished.
        calls = len(emulator.requests())
        again = await run("polygon,alphavantage", NOW + dt.timedelta(hours=3))
        assert (again.asked, again.published) == ((), False)
        assert len(emulator.requests()) == calls

        # Priority changed: Alpha Vantage now wins; its figures replace Polygon's.
        overview = av_overview("ACME", emulator_today())
        swapped = await run("alphavantage,polygon", NOW + dt.timedelta(hours=4))
        assert swapped.asked == ("alphavantage",) and swapped.published
        assert swapped.view is not None and swapped.view.source == "alphavantage"
        assert swapped.view.shares_outstanding == float(overview["SharesOutstanding"])

        # Alpha Vantage down after the TTL ran out: Polygon's fresh figures are used.
        emulator.fault(provider="alphavantage", kind="server_error", count=None)
        later = NOW + dt.timedelta(hours=30)
        fallback = await run("alphavantage,polygon", later)
        assert fallback.asked == ("alphavantage", "polygon")
        assert fallback.failed == ("alphavantage",)
        assert fallback.view is not None and fallback.view.source == "polygon"

    assert await query(
        engine,
        "SELECT shares_source, market_cap_source FROM fundamentals "
        "WHERE instrument_id = 'BBG-ACME'",
    ) == [("polygon", "polygon")]
    assert await publish() == 3
    events = [e["payload"] for e in await read(test_topics.fundamentals)]
    assert [e["source"] for e in events] == ["polygon", "alphavantage", "polygon"]
    assert all(e["instrument_id"] == "BBG-ACME" and e["symbol"] == "ACME" for e in events)


def emulator_today() -> dt.date:
    """The emulator's OVERVIEW answers as of its own today (New York)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("America/New_York")).date()
