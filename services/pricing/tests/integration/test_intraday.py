"""Intraday bars over a real Postgres and the real broker, from the local-files provider
(a real adapter reading a 1-minute cache): 5m bars rolled up within NYSE sessions, stored
in bulk, published once, re-fetched only for a session still trading, served by
`GET /bars/{symbol}?interval=5m`; `secmaster prices refresh --interval 1m`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from pricing.adapters import store
from pricing.app import build_router
from pricing.composition import build_chains
from pricing.domain.bars import Interval
from pricing.refresh import refresh_members
from pricing.settings import PricingSettings
from secmaster.cli import build_app

from .conftest import DAYS, NEW_YORK, TrackInstrument, minute_rows, query, write_minutes

pytestmark = pytest.mark.integration


def five_minute_truth(rows: list[dict[str, Any]]) -> dict[dt.datetime, tuple[float, ...]]:
    """5m OHLCV computed by hand from the minute rows (bucket = 5 minutes from the open)."""
    buckets: dict[dt.datetime, list[dict[str, Any]]] = {}
    for row in rows:
        local = row["datetime"]
        since_open = local.hour * 60 + local.minute - (9 * 60 + 30)
        start = local - dt.timedelta(minutes=since_open % 5)
        buckets.setdefault(start.replace(tzinfo=NEW_YORK).astimezone(dt.UTC), []).append(row)
    return {
        ts: (
            m[0]["open"],
            max(r["high"] for r in m),
            min(r["low"] for r in m),
            m[-1]["close"],
            float(sum(r["volume"] for r in m)),
        )
        for ts, m in buckets.items()
    }


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Two full sessions and the Friday up to 12:02 New York (a refresh during trading)."""
    write_minutes(
        tmp_path, "wed_thu.csv", minute_rows(DAYS[0], 0, 390) + minute_rows(DAYS[1], 0, 390)
    )
    write_minutes(tmp_path, "fri_morning.csv", minute_rows(DAYS[2], 0, 152))
    return tmp_path


async def test_5m_bars_from_a_1m_cache_are_stored_published_and_served_once(
    engine: AsyncEngine,
    track: TrackInstrument,
    cache: Path,
    publish: Callable[[], Awaitable[int]],
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
    test_topics: Any,
) -> None:
    await track("ACME")
    settings = PricingSettings(pricing_providers="local", pricing_base_urls={"local": str(cache)})
    async with httpx.AsyncClient() as http:
        chains = build_chains(settings, http)

    async def refresh() -> Any:
        async with engine.connect() as conn:
            members = await store.universe(conn)
        [outcome] = await refresh_members(
            engine=engine,
            chains=chains,
            members=members,
            start=DAYS[0],
            end=DAYS[-1],
            correlation_id="intraday-test",
            interval=Interval.M5,
        )
        return outcome

    first = await refresh()
    # 78 five-minute bars a full session; Friday 09:30-12:00 is 30 buckets, and 12:00-12:05
    # holds two minutes so far: quarantined as partial, not stored.
    assert (first.stored, first.rejected, first.provider, first.aggregated) == (
        78 + 78 + 30,
        1,
        "local",
        True,
    )
    assert first.attempts == ("local:error", "local[1m]:ok")
    truth = five_minute_truth(
        minute_rows(DAYS[0], 0, 390) + minute_rows(DAYS[1], 0, 390) + minute_rows(DAYS[2], 0, 150)
    )
    rows = await query(
        engine,
        "SELECT ts, open, high, low, close, volume, provider FROM bars_intraday "
        "WHERE instrument_id = 'BBG-ACME' AND interval = '5m' ORDER BY ts",
    )
    assert [r.ts for r in rows] == sorted(truth)
    for r in rows:
        assert (r.open, r.high, r.low, r.close, r.volume) == pytest.approx(truth[r.ts])
    assert {r.provider for r in rows} == {"local"}
    assert await query(engine, "SELECT reason FROM bar_quarantine") == [("partial_bar",)]

    assert await publish() == 1
    [batch] = await read(test_topics.bars)
    assert batch["_key"] == "BBG-ACME"
    assert (batch["payload"]["interval"], batch["payload"]["provider"]) == ("5m", "local")
    assert [b["ts"] for b in batch["payload"]["bars"]] == [
        ts.isoformat().replace("+00:00", "Z") for ts in sorted(truth)
    ]

    # Wednesday and Thursday are stored through the close; Friday is still trading, so only
    # it is fetched again, and its unchanged bars are neither stored nor published again.
    again = await refresh()
    assert (again.ranges, again.stored, again.published) == (("2024-03-15..2024-03-15",), 0, 0)
    assert await publish() == 0

    # The rest of Friday arrives: the forming 12:00 bucket and the afternoon are new.
    write_minutes(cache, "fri_afternoon.csv", minute_rows(DAYS[2], 152, 390))
    later = await refresh()
    assert (later.stored, later.published) == (48, 48)
    assert await publish() == 1
    events = await read(test_topics.bars)
    assert len(events) == 2
    assert events[-1]["payload"]["bars"][0]["ts"] == "2024-03-15T16:00:00Z"  # 12:00 New York
    done = await refresh()
    assert (done.ranges, done.attempts) == ((), ())

    app = FastAPI()
    app.include_router(build_router(SimpleNamespace(engine=engine)))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pricing") as http:
        friday = await http.get(
            "/bars/ACME", params={"interval": "5m", "start": "2024-03-15", "end": "2024-03-15"}
        )
        thirty = await http.get("/bars/ACME", params={"interval": "30m"})
        hourly = await http.get("/bars/ACME", params={"interval": "1h"})
    assert friday.status_code == 200
    body = friday.json()
    assert body["interval"] == "5m" and len(body["bars"]) == 78
    assert body["bars"][0]["ts"] == "2024-03-15T13:30:00Z"
    assert body["bars"][-1]["ts"] == "2024-03-15T19:55:00Z"
    assert {b["provider"] for b in body["bars"]} == {"local"}
    assert thirty.status_code == 422 and "unknown interval '30m'" in thirty.json()["detail"]
    assert hourly.status_code == 404


async def test_cli_refresh_interval_1m_stores_the_cache_as_is(
    monkeypatch: pytest.MonkeyPatch,
    fresh_database: str,
    track: TrackInstrument,
    cache: Path,
    test_topics: Any,
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
) -> None:
    await track("ACME")
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("PRICING_PROVIDERS", "local")
    monkeypatch.setenv("PRICING_BASE_URLS", json.dumps({"local": str(cache)}))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", test_topics.bootstrap)
    monkeypatch.setenv("TOPIC_PREFIX", test_topics.prefix)
    monkeypatch.setenv("LOG_JSON", "false")
    args = ["prices", "refresh", "ACME", "--interval", "1m", "--start", "2024-03-13"]
    args += ["--end", "2024-03-13", "--json"]

    result = await asyncio.to_thread(CliRunner().invoke, build_app(), args)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["interval"] == "1m" and summary["published"] == 1
    [row] = summary["instruments"]
    assert (row["stored"], row["provider"], row["aggregated_from_1m"]) == (390, "local", False)
    assert row["asset_class"] == "equity"
    [batch] = await read(test_topics.bars)
    assert batch["payload"]["interval"] == "1m" and len(batch["payload"]["bars"]) == 390
    assert batch["payload"]["bars"][0]["ts"] == "2024-03-13T13:30:00Z"
