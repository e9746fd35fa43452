"""`secmaster prices refresh` against a real Postgres, the real broker and the provider
emulator; then `GET /bars/{symbol}` as stored and adjusted for the stored bars."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from pricing.app import build_router
from pricing.domain.calendars import session_calendar
from secmaster.cli import build_app
from secmaster_emulators.providers import synthetic_day

from .conftest import Emulator, TrackInstrument

pytestmark = pytest.mark.integration

JANUARY = session_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 31))


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    fresh_database: str,
    emulator: Emulator,
    test_topics: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("PRICING_PROVIDERS", "yahoo")
    monkeypatch.setenv("PRICING_BASE_URLS", json.dumps({"yahoo": emulator.url}))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", test_topics.bootstrap)
    monkeypatch.setenv("TOPIC_PREFIX", test_topics.prefix)
    monkeypatch.setenv("LOG_JSON", "false")


async def invoke(*args: str) -> Any:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, build_app(), ["prices", *args])


async def test_refresh_stores_publishes_and_then_has_nothing_to_do(
    cli_env: None,
    track: TrackInstrument,
    read: Callable[[str], Awaitable[list[dict[str, Any]]]],
    test_topics: Any,
) -> None:
    await track("ACME")
    await track("BETA")

    dates = ["ACME", "BETA", "--start", "2024-01-02", "--end", "2024-01-31", "--json"]
    first = await invoke("refresh", *dates)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert [(i["symbol"], i["stored"], i["provider"]) for i in summary["instruments"]] == [
        ("ACME", len(JANUARY), "yahoo"),
        ("BETA", len(JANUARY), "yahoo"),
    ]
    assert summary["published"] == 2  # one market.bars.v1 batch per instrument

    again = await invoke("refresh", *dates)
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["stored"], summary["published"]) == (0, 0)
    assert all(i["ranges"] == [] for i in summary["instruments"])
    events = await read(test_topics.bars)
    assert sorted(e["payload"]["symbol"] for e in events) == ["ACME", "BETA"]
    assert all(len(e["payload"]["bars"]) == len(JANUARY) for e in events)

    unknown = await invoke("refresh", "NOPE", "--json")
    assert unknown.exit_code != 0
    assert "NOPE not in the pricing universe" in unknown.output


async def test_bars_raw_and_adjusted_on_read(
    cli_env: None, track: TrackInstrument, engine: AsyncEngine
) -> None:
    await track("ACME")
    result = await invoke("refresh", "ACME", "--start", "2024-01-02", "--end", "2024-01-31")
    assert result.exit_code == 0, result.output
    async with engine.begin() as conn:
        from pricing.adapters import store
        from pricing.domain.bars import CorporateAction

        split_day = dt.date(2024, 1, 16)
        await store.save_actions(
            conn, "BBG-ACME", [CorporateAction.split("ACME", split_day, 2.0)], "test"
        )
    app = FastAPI()
    app.include_router(build_router(SimpleNamespace(engine=engine)))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pricing") as http:
        raw = (await http.get("/bars/ACME", params={"end": "2024-01-31"})).json()
        adjusted = (await http.get("/bars/ACME", params={"adjusted": "true"})).json()
        missing = await http.get("/bars/NOPE")

    assert missing.status_code == 404
    assert raw["adjusted"] is False and adjusted["adjusted"] is True
    # Yahoo's OHLC are split-adjusted: stored and served as such, and said so.
    assert (raw["basis"], adjusted["basis"]) == ("split", "split_dividend")
    assert {b["basis"] for b in raw["bars"]} == {"split"}
    assert "cannot be reconstructed" in raw["note"]
    assert adjusted["actions"] == [{"type": "split", "date": "2024-01-16", "ratio": 2.0}]
    assert [b["date"] for b in raw["bars"]] == [d.isoformat() for d in JANUARY]
    for plain, adj in zip(raw["bars"], adjusted["bars"], strict=True):
        day = dt.date.fromisoformat(plain["date"])
        truth = synthetic_day("ACME", day)
        assert truth is not None and plain["close"] == pytest.approx(truth.close)
        # The split is already in Yahoo's prices: applying it again would halve them.
        assert adj["close"] == pytest.approx(truth.close)
        assert adj["volume"] == pytest.approx(truth.volume)
        assert adj["provider"] == "yahoo"
