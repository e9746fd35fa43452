"""The bulk storage path over a real Postgres: new bars go straight in, restated bars
fall back to the staging merge, and only rows that really changed are reported."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from pricing.domain.bars import PriceBar, PriceBasis

from .conftest import query

pytestmark = pytest.mark.integration

SPLIT = PriceBasis.SPLIT


def bar(day: int, close: float = 10.0) -> PriceBar:
    return PriceBar(
        symbol="ACME",
        trading_date=dt.date(2024, 1, day),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=100.0,
        provider="yahoo",
    )


async def test_restated_bars_merge_and_report_only_real_changes(engine: AsyncEngine) -> None:
    first = [bar(2), bar(3), bar(4)]
    async with engine.begin() as conn:
        assert await store.copy_daily_bars(conn, "BBG-ACME", first, basis=SPLIT) == {
            dt.date(2024, 1, d) for d in (2, 3, 4)
        }
    # 01-03 restated with another close, 01-04 identical, 01-05 new: the direct COPY
    # hits a stored key, so the merge runs; two merges in one transaction both count.
    restated = [bar(3, close=11.0), bar(4), bar(5)]
    async with engine.begin() as conn:
        changed = await store.copy_daily_bars(conn, "BBG-ACME", restated, basis=SPLIT)
        again = await store.copy_daily_bars(
            conn,
            "BBG-ACME",
            [dataclasses.replace(bar(8), provider="stooq")],
            basis=PriceBasis.SPLIT_DIVIDEND,
        )
    assert changed == {dt.date(2024, 1, 3), dt.date(2024, 1, 5)}
    assert again == {dt.date(2024, 1, 8)}
    # The same prices restated in another basis are a change: the basis is part of the bar.
    async with engine.begin() as conn:
        rebased = await store.copy_daily_bars(conn, "BBG-ACME", [bar(2)], basis=PriceBasis.RAW)
        assert await store.stored_basis(conn, "BBG-ACME") is PriceBasis.SPLIT_DIVIDEND
    assert rebased == {dt.date(2024, 1, 2)}
    rows = await query(
        engine,
        "SELECT trading_date, close, provider, basis FROM bars_daily ORDER BY trading_date",
    )
    assert [(r.trading_date.day, r.close, r.provider, r.basis) for r in rows] == [
        (2, 10.0, "yahoo", "raw"),
        (3, 11.0, "yahoo", "split"),
        (4, 10.0, "yahoo", "split"),
        (5, 10.0, "yahoo", "split"),
        (8, 10.0, "stooq", "split_dividend"),
    ]
