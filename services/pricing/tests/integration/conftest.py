"""Fixtures over the real broker, a real Postgres and the provider emulator on a socket:
the pricing app-role engine on a fresh database, a universe member, a 1-minute bar cache,
the outbox drained to the broker, and a reader of what reached a topic."""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import drain_outbox
from secmaster_common.events import topics
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.kafka import read_envelopes as read_topic
from secmaster_emulators.openfigi import serve_in_thread
from secmaster_emulators.providers import create_app


@pytest.fixture(scope="session")
def emulator_base() -> Iterator[str]:
    """The provider emulator without rate limits, on a real socket, for the session."""
    with serve_in_thread(create_app(enforce_limits=False)) as url:
        yield url


@dataclass
class Emulator:
    """The shared emulator with faults and request log cleared for one test."""

    url: str

    def fault(self, **rule: Any) -> None:
        httpx.post(f"{self.url}/_admin/faults", json=rule, timeout=5).raise_for_status()

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        params = {"provider": provider} if provider else {}
        body = httpx.get(f"{self.url}/_admin/requests", params=params, timeout=5).json()
        rows: list[dict[str, Any]] = body["requests"]
        return rows


@pytest.fixture
def emulator(emulator_base: str) -> Emulator:
    httpx.delete(f"{emulator_base}/_admin/faults", timeout=5).raise_for_status()
    httpx.delete(f"{emulator_base}/_admin/requests", timeout=5).raise_for_status()
    return Emulator(emulator_base)


@pytest.fixture
def app_dsn(fresh_database: str) -> str:
    return service_role_dsn(fresh_database, "pricing", "app")


@pytest.fixture
async def engine(app_dsn: str) -> AsyncIterator[AsyncEngine]:
    """The pricing service's engine, connected as its app role."""
    eng = make_engine(app_dsn, schema="pricing")
    try:
        yield eng
    finally:
        await eng.dispose()


NEW_YORK = ZoneInfo("America/New_York")
DAYS = [dt.date(2024, 3, 13), dt.date(2024, 3, 14), dt.date(2024, 3, 15)]  # Wed-Fri, EDT


def minute_rows(day: dt.date, first: int, last: int) -> list[dict[str, Any]]:
    """Minutes `first`..`last` (0 = 09:30 New York) of a deterministic wiggling series."""
    rows = []
    for k in range(first, last):
        i = day.toordinal() * 390 + k
        o = round(100 + 3 * math.sin(i / 37), 4)
        c = round(100 + 3 * math.sin((i + 1) / 37), 4)
        rows.append(
            {
                "datetime": dt.datetime.combine(day, dt.time(9, 30)) + dt.timedelta(minutes=k),
                "open": o,
                "high": round(max(o, c) + 0.05 + (k % 3) / 100, 4),
                "low": round(min(o, c) - 0.04 - (k % 5) / 100, 4),
                "close": c,
                "volume": 100 + (k * 7) % 31,
            }
        )
    return rows


def write_minutes(root: Path, name: str, rows: list[dict[str, Any]]) -> None:
    folder = root / "ohlcv" / "ACME" / "1m"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "datetime": row["datetime"].strftime("%Y-%m-%d %H:%M:%S")})


TrackInstrument = Callable[..., Awaitable[None]]


@pytest.fixture
def track(engine: AsyncEngine) -> TrackInstrument:
    """`await track("AAPL")`: put a symbol in the pricing universe, as a mapping event would
    (by default a US common stock; OpenFIGI's marketSector/securityType pick the chain)."""

    async def add(
        symbol: str,
        *,
        instrument_id: str | None = None,
        exch_code: str | None = "US",
        market_sector: str | None = "Equity",
        security_type: str | None = "Common Stock",
    ) -> None:
        async with engine.begin() as conn:
            await store.upsert_universe(
                conn,
                instrument_id=instrument_id or f"BBG-{symbol}",
                symbol=symbol,
                figi=instrument_id,
                id_type="TICKER",
                id_value=symbol,
                exch_code=exch_code,
                market_sector=market_sector,
                security_type=security_type,
            )

    return add


async def query(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


@dataclass
class Topics:
    prefix: str
    bootstrap: str

    @property
    def bars(self) -> str:
        return self.prefix + topics.MARKET_BARS

    @property
    def fundamentals(self) -> str:
        return self.prefix + topics.MARKET_FUNDAMENTALS


@pytest.fixture
async def test_topics(kafka_bootstrap: str, unique_prefix: str) -> Topics:
    names = Topics(prefix=unique_prefix, bootstrap=kafka_bootstrap)
    await ensure_topics(kafka_bootstrap, [names.bars, names.fundamentals], partitions=1)
    return names


@pytest.fixture
def publish(engine: AsyncEngine, test_topics: Topics) -> Callable[[], Awaitable[int]]:
    """Run the outbox relay until the outbox is empty; returns the rows it sent."""

    async def run() -> int:
        return await drain_outbox(
            service="pricing",
            engine=engine,
            bootstrap_servers=test_topics.bootstrap,
            topic_prefix=test_topics.prefix,
            timeout_s=30,
        )

    return run


@pytest.fixture
def read(kafka_bootstrap: str) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    async def run(topic: str) -> list[dict[str, Any]]:
        return await read_topic(kafka_bootstrap, topic)

    return run
