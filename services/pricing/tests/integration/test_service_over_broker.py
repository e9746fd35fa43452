"""The pricing process's handlers over the real broker and Postgres: mapping events put a
stock and a coin in the universe and fetch each through its class's chain; a 5m refresh
request then fails over to 1-minute bars, rolls them up and publishes 5m batches."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pricing.app import bootstrap
from pricing.settings import PricingSettings
from secmaster_common.db.engine import make_engine
from secmaster_common.events import (
    Payload,
    RefreshPrices,
    SecurityMapped,
    topics,
)
from secmaster_common.kafka import ensure_topics, publish_events
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.kafka import read_envelopes

from .conftest import DAYS, Emulator, minute_rows, query, write_minutes

pytestmark = pytest.mark.integration


async def _send(bootstrap_servers: str, prefix: str, items: list[tuple[Payload, str]]) -> None:
    await publish_events(bootstrap_servers, items, producer="test", topic_prefix=prefix)


async def _until(check: Callable[[], Any], *, timeout_s: float = 40.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[dict[str, Any]] = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


def mapped(ticker: str, sector: str, security_type: str, exch: str | None) -> SecurityMapped:
    return SecurityMapped(
        status="mapped",
        id_type="TICKER",
        id_value=ticker,
        figi=f"BBG-{ticker}",
        composite_figi=f"BBG-{ticker}",
        ticker=ticker,
        exch_code=exch,
        security_type=security_type,
        market_sector=sector,
    )


async def test_mapping_events_route_by_class_and_a_5m_request_is_served_from_1m(
    kafka_bootstrap: str,
    unique_prefix: str,
    fresh_database: str,
    emulator: Emulator,
    tmp_path: Path,
) -> None:
    await ensure_topics(kafka_bootstrap, topics.all_topics_with_dlq(unique_prefix), partitions=1)
    write_minutes(tmp_path, "acme.csv", minute_rows(DAYS[0], 0, 390))
    settings = PricingSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database,
        topic_prefix=unique_prefix,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        log_json=False,
        pricing_providers="yahoo,local",
        pricing_chains={"crypto": "polygon"},
        pricing_base_urls={"yahoo": emulator.url, "polygon": emulator.url, "local": str(tmp_path)},
        pricing_api_keys={"polygon": SecretStr("pk")},
        pricing_history_start=dt.date(2024, 3, 1),
        pricing_history_end=dt.date(2024, 3, 15),
        pricing_schedule_enabled=False,
    )
    bars_topic = unique_prefix + topics.MARKET_BARS
    runtime = bootstrap(settings).state.runtime
    await runtime.start()
    try:
        await _send(
            kafka_bootstrap,
            unique_prefix,
            [
                (mapped("ACME", "Equity", "Common Stock", "US"), "ACME"),
                (mapped("BTCUSD", "Curncy", "Crypto", None), "BTCUSD"),
            ],
        )

        async def daily() -> list[dict[str, Any]]:
            found = await read_envelopes(kafka_bootstrap, bars_topic)
            return found if len(found) >= 2 else []

        daily_batches = await _until(daily)
        await _send(
            kafka_bootstrap,
            unique_prefix,
            [(RefreshPrices(symbols=["ACME"], start=DAYS[0], end=DAYS[0], interval="5m"), "ACME")],
        )

        async def five_minute() -> list[dict[str, Any]]:
            found = await read_envelopes(kafka_bootstrap, bars_topic)
            return [e for e in found if e["payload"]["interval"] == "5m"]

        intraday = await _until(five_minute)
    finally:
        await runtime.stop()

    assert sorted((e["_key"], e["payload"]["provider"]) for e in daily_batches) == [
        ("BBG-ACME", "yahoo"),
        ("BBG-BTCUSD", "polygon"),
    ]
    members = await _members(fresh_database)
    assert members == [
        ("BBG-ACME", "Equity", "Common Stock"),
        ("BBG-BTCUSD", "Curncy", "Crypto"),
    ]
    # Yahoo (the emulator serves 1d only) and `local` (no 5m folder) refuse 5m; the chain's
    # 1-minute answer from `local` is rolled up: 78 bars for the full session.
    [batch] = intraday
    assert batch["payload"]["provider"] == "local"
    assert len(batch["payload"]["bars"]) == 78
    assert batch["payload"]["bars"][0]["ts"] == "2024-03-13T13:30:00Z"


async def _members(dsn: str) -> list[tuple[Any, ...]]:
    engine = make_engine(service_role_dsn(dsn, "pricing", "app"), schema="pricing")
    try:
        rows = await query(
            engine,
            "SELECT instrument_id, market_sector, security_type FROM universe ORDER BY 1",
        )
    finally:
        await engine.dispose()
    return [tuple(r) for r in rows]
