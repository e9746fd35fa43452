"""Market-cap inputs over a real Postgres: `market.fundamentals.v1` observations (shares
outstanding, or a market cap turned into shares with that day's close) let market-cap,
capped and top-N indexes run in the service; levels checked against hand-written formulas."""

from __future__ import annotations

import pytest

from .conftest import DAYS, Indexer, bars, definition, fundamentals, walk

pytestmark = pytest.mark.integration

X, Y = walk(11), walk(12)
X_SHARES = 1e6
Y_CAP = 2e8  # reported as market cap only: shares = cap / Y's close that day


async def test_market_cap_indexes_run_from_fundamentals(indexer: Indexer) -> None:
    await indexer.define(
        definition("mcap", universe={"constituents": ["X", "Y"]}, weighting="market_cap")
    )
    await indexer.define(
        definition(
            "capped",
            universe={"constituents": ["X", "Y"]},
            weighting={"method": "capped_market_cap", "cap": 0.6},
        )
    )
    await indexer.define(
        definition("top1", universe={"rule": "top_market_cap", "n": 1}, weighting="equal")
    )
    await indexer.define(definition("eq", universe={"constituents": ["X", "Y"]}))
    await indexer.bars(bars("X", DAYS, X))
    await indexer.bars(bars("Y", DAYS, Y))
    await indexer.bars(bars("Z", DAYS, walk(13)))  # priced, but no shares known: never top
    before = {o.index_id: o.status for o in await indexer.run_queue()}
    assert before == {"mcap": "waiting", "capped": "waiting", "top1": "waiting", "eq": "computed"}

    # Only indexes that weigh by market cap (or rank by it) and read the symbol are queued.
    assert await indexer.fundamentals(fundamentals("X", DAYS[0], shares=X_SHARES)) == [
        "capped",
        "mcap",
        "top1",
    ]
    assert await indexer.fundamentals(fundamentals("Y", DAYS[0], market_cap=Y_CAP)) == [
        "capped",
        "mcap",
        "top1",
    ]
    assert await indexer.fundamentals(fundamentals("Y", DAYS[0], market_cap=Y_CAP)) == []
    after = {o.index_id: (o.status, o.published_levels) for o in await indexer.run_queue()}
    assert after == {i: ("computed", len(DAYS)) for i in ("mcap", "capped", "top1")}

    y_shares = Y_CAP / Y[0]
    base = X_SHARES * X[0] + y_shares * Y[0]
    mcap = [100 * (X_SHARES * x + y_shares * y) / base for x, y in zip(X, Y, strict=True)]
    assert list((await indexer.levels("mcap", 1)).values()) == pytest.approx(mcap, rel=1e-12)

    # Base weights: X 5e7-ish of 2.5e8 (about 0.2), Y about 0.8, so Y is capped at 0.6 and
    # X gets the rest; then the shares drift with prices (no rebalance).
    assert X_SHARES * X[0] / base < 0.4
    capped = [100 * (0.4 * x / X[0] + 0.6 * y / Y[0]) for x, y in zip(X, Y, strict=True)]
    assert list((await indexer.levels("capped", 1)).values()) == pytest.approx(capped, rel=1e-12)

    # The largest of the symbols with a known market cap is Y alone.
    top = [100 * y / Y[0] for y in Y]
    assert list((await indexer.levels("top1", 1)).values()) == pytest.approx(top, rel=1e-12)
