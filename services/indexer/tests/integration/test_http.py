"""The indexer's HTTP API over a real Postgres: risk against a benchmark index, and the
SVG chart of an index against its benchmark."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from indexer.app import build_router

from .conftest import DAYS, Indexer, bars, definition, walk

pytestmark = pytest.mark.integration

SVG = "{http://www.w3.org/2000/svg}"
PRICES = {s: walk(seed) for seed, s in enumerate(("X", "Y", "Z", "W"), start=21)}
BENCH_START = 3  # the benchmark starts three sessions after the index


@pytest.fixture
async def api(indexer: Indexer) -> AsyncIterator[httpx.AsyncClient]:
    await indexer.define(definition("xy", universe={"constituents": ["X", "Y"]}))
    await indexer.define(
        definition("zw", universe={"constituents": ["Z", "W"]}, base_date=DAYS[BENCH_START])
    )
    for symbol, closes in PRICES.items():
        await indexer.bars(bars(symbol, DAYS, closes))
    await indexer.run_queue()
    app = FastAPI()
    app.include_router(build_router(indexer.engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://indexer") as client:
        yield client


def _levels(a: str, b: str, start: int = 0) -> list[float]:
    x, y = PRICES[a], PRICES[b]
    return [100 * (x[k] / x[start] + y[k] / y[start]) / 2 for k in range(start, len(DAYS))]


async def test_risk_against_a_benchmark_index(api: httpx.AsyncClient) -> None:
    response = await api.get("/indexes/xy/risk", params={"benchmark": "zw"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["start"], report["end"]) == (DAYS[BENCH_START].isoformat(), DAYS[-1].isoformat())
    assert report["returns"] == len(DAYS) - BENCH_START - 1
    own = np.asarray(_levels("X", "Y")[BENCH_START:])
    bench = np.asarray(_levels("Z", "W", BENCH_START))
    r, b = own[1:] / own[:-1] - 1, bench[1:] / bench[:-1] - 1
    metrics = report["metrics"]
    assert metrics["beta"] == pytest.approx(np.cov(r, b)[0, 1] / np.var(b, ddof=1), rel=1e-9)
    assert metrics["tracking_error"] == pytest.approx(
        np.std(r - b, ddof=1) * math.sqrt(252), rel=1e-9
    )
    assert metrics["annual_volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(252))

    alone = (await api.get("/indexes/xy/risk")).json()
    assert alone["returns"] == len(DAYS) - 1 and "beta" not in alone["metrics"]
    missing = await api.get("/indexes/xy/risk", params={"benchmark": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_chart_draws_the_index_against_its_benchmark(api: httpx.AsyncClient) -> None:
    response = await api.get("/indexes/xy/chart", params={"benchmark": "zw"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(response.text)
    lines = {p.get("data-series"): p.get("points", "").split() for p in svg.iter(f"{SVG}polyline")}
    assert set(lines) == {"xy v1", "zw v1"}
    # One point per level from the first shared date; both rebased to 100 there.
    shared = len(DAYS) - BENCH_START
    assert [len(points) for points in lines.values()] == [shared, shared]
    first_y = {name: float(points[0].split(",")[1]) for name, points in lines.items()}
    assert first_y["xy v1"] == pytest.approx(first_y["zw v1"])
    # Higher levels are drawn higher up (smaller y), left to right in date order.
    xy = [tuple(map(float, p.split(","))) for p in lines["xy v1"]]
    levels = _levels("X", "Y")[BENCH_START:]
    assert xy[int(np.argmax(levels))][1] == min(pt[1] for pt in xy)
    assert [pt[0] for pt in xy] == sorted(pt[0] for pt in xy)

    texts = {t.get("class"): t.text for t in svg.iter(f"{SVG}text") if t.get("class")}
    assert texts["x-label"] == "date"
    assert texts["y-label"] == f"level, rebased to 100 on {DAYS[BENCH_START].isoformat()}"
    assert texts["title"] == "xy against zw"
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "legend"]
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "x-tick"]
    assert legend == ["xy v1", "zw v1"]
    assert ticks[0] == DAYS[BENCH_START].isoformat() and ticks[-1] == DAYS[-1].isoformat()

    alone = ET.fromstring((await api.get("/indexes/xy/chart")).text)
    assert [len(p.get("points", "").split()) for p in alone.iter(f"{SVG}polyline")] == [len(DAYS)]
    assert (await api.get("/indexes/nope/chart")).status_code == 404


async def test_levels_by_version_and_backfill(api: httpx.AsyncClient) -> None:
    levels = (await api.get("/indexes/xy/levels", params={"version": 1})).json()
    assert [lv["level"] for lv in levels["levels"]] == pytest.approx(_levels("X", "Y"), rel=1e-12)
    assert (await api.get("/indexes/xy/levels", params={"version": 2})).status_code == 404
    backfill = await api.post("/indexes/zw/backfill", params={"end": "2024-03-01"})
    assert backfill.status_code == 202
    assert backfill.json() == {
        "index_id": "zw",
        "symbols": ["W", "Z"],
        "start": DAYS[BENCH_START].isoformat(),
        "end": "2024-03-01",
    }
    listed = {row["index_id"]: row for row in (await api.get("/indexes")).json()}
    assert (listed["zw"]["pending_reason"], listed["xy"]["pending_reason"]) == ("backfill", None)
