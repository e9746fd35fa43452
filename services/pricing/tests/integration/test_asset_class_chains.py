"""One provider chain per asset class, over a real Postgres, the real broker and the provider
emulator on a socket: a stock and a crypto coin in one refresh go through different
providers, and each stored and published bar names the provider it came from."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from pricing.domain.calendars import session_calendar
from secmaster.cli import build_app

from .conftest import Emulator, TrackInstrument, query

pytestmark = pytest.mark.integration


async def test_a_stock_and_a_coin_are_fetched_through_their_own_chains(
    monkeypatch: pytest.MonkeyPatch,
    fresh_database: str,
    emulator: Emulator,
    test_topics: Any,
    track: TrackInstrument,
    engine: AsyncEngine,
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("PRICING_PROVIDERS", "yahoo")  # every class without its own chain
    monkeypatch.setenv("PRICING_CHAINS", json.dumps({"crypto": "polygon"}))
    monkeypatch.setenv(
        "PRICING_BASE_URLS", json.dumps({"yahoo": emulator.url, "polygon": emulator.url})
    )
    monkeypatch.setenv("PRICING_API_KEYS", json.dumps({"polygon": "pk"}))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", test_topics.bootstrap)
    monkeypatch.setenv("TOPIC_PREFIX", test_topics.prefix)
    monkeypatch.setenv("LOG_JSON", "false")
    # As reference.securities.v1 describes them: OpenFIGI marketSector and securityType.
    await track("ACME", market_sector="Equity", security_type="Common Stock")
    await track("BTCUSD", exch_code=None, market_sector="Curncy", security_type="Crypto")
    await track("OLDCO", market_sector=None, security_type=None)  # unknown: default class

    args = ["prices", "refresh", "--start", "2024-01-02", "--end", "2024-01-31", "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, build_app(), args)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    routed = {i["symbol"]: (i["asset_class"], i["provider"]) for i in summary["instruments"]}
    assert routed == {
        "ACME": ("equity", "yahoo"),
        "BTCUSD": ("crypto", "polygon"),
        "OLDCO": ("equity", "yahoo"),
    }
    assert {r["symbol"] for r in emulator.requests("yahoo")} == {"ACME", "OLDCO"}
    assert {r["symbol"] for r in emulator.requests("polygon")} == {"BTCUSD"}

    # The emulator's series trades NYSE sessions only, so both hold January's sessions.
    sessions = len(session_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 31)))
    stored = await query(
        engine,
        "SELECT instrument_id, provider, count(*) FROM bars_daily "
        "GROUP BY instrument_id, provider ORDER BY instrument_id",
    )
    assert [tuple(r) for r in stored] == [
        ("BBG-ACME", "yahoo", sessions),
        ("BBG-BTCUSD", "polygon", sessions),
        ("BBG-OLDCO", "yahoo", sessions),
    ]
    events = await read(test_topics.bars)
    assert sorted((e["_key"], e["payload"]["provider"]) for e in events) == [
        ("BBG-ACME", "yahoo"),
        ("BBG-BTCUSD", "polygon"),
        ("BBG-OLDCO", "yahoo"),
    ]
