"""Incremental recomputation over a real Postgres: new closes recompute only the indexes
that read them, once per burst; a new definition version recomputes its whole history and
keeps the old one; repeating an input publishes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from indexer import service
from indexer.adapters import repository
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import topics

from .conftest import DAYS, Indexer, bars, definition, holdings_chunk, mapping, walk

pytestmark = pytest.mark.integration

NEW_DAY = dt.date(2024, 1, 31)
PRICES = {s: walk(seed) for seed, s in enumerate(("X", "Y", "Z", "W"), start=1)}


async def _price_everything(indexer: Indexer, *, days: int = len(DAYS)) -> None:
    for symbol, closes in PRICES.items():
        await indexer.bars(bars(symbol, DAYS[:days], closes[:days]))


async def test_new_bars_recompute_only_the_indexes_reading_them_once_per_burst(
    indexer: Indexer,
) -> None:
    await indexer.define(definition("xy", universe={"constituents": ["X", "Y"]}))
    await indexer.define(definition("zw", universe={"constituents": ["Z", "W"]}))
    await _price_everything(indexer)
    first = {o.index_id: o for o in await indexer.run_queue()}
    assert {i: (o.status, o.published_levels) for i, o in first.items()} == {
        "xy": ("computed", len(DAYS)),
        "zw": ("computed", len(DAYS)),
    }
    zw_before = await indexer.levels("zw", 1)
    sent_before = len(await indexer.outbox(topics.INDEXES_LEVELS))

    # Two messages (one per instrument) for the next day queue "xy" alone, and it is
    # computed once for both.
    x_new, y_new = PRICES["X"][-1] * 1.03, PRICES["Y"][-1] * 0.99
    assert await indexer.bars(bars("X", [NEW_DAY], [x_new])) == ["xy"]
    assert await indexer.bars(bars("Y", [NEW_DAY], [y_new])) == ["xy"]
    assert await indexer.queued() == ["xy"]
    outcomes = await indexer.run_queue()
    assert [(o.index_id, o.published_levels) for o in outcomes] == [("xy", 1)]
    assert await indexer.queued() == []

    new_events = (await indexer.outbox(topics.INDEXES_LEVELS))[sent_before:]
    assert len(new_events) == 1
    payload = new_events[0]["payload"]
    assert (new_events[0]["_key"], payload["index_id"], payload["version"]) == ("xy", "xy", 1)
    # Equal weight, never rebalanced: 100 x mean of the two price relatives since the base.
    expected = 100.0 * (x_new / PRICES["X"][0] + y_new / PRICES["Y"][0]) / 2
    assert [lv["date"] for lv in payload["levels"]] == [NEW_DAY.isoformat()]
    assert payload["levels"][0]["level"] == pytest.approx(expected, rel=1e-12)
    assert payload["levels"][0]["constituents"] == 2
    assert (await indexer.levels("xy", 1))[NEW_DAY] == pytest.approx(expected, rel=1e-12)
    assert await indexer.levels("zw", 1) == zw_before


async def test_nothing_changed_publishes_nothing(indexer: Indexer) -> None:
    await indexer.define(
        definition("xy", universe={"constituents": ["X", "Y"]}, rebalance="weekly")
    )
    await _price_everything(indexer)
    await indexer.run_queue()
    published = await indexer.outbox()
    assert {e["_topic"] for e in published} == {topics.INDEXES_LEVELS, topics.INDEXES_REBALANCES}

    # The same batch again (a provider re-sending history) changes no close: nothing queued.
    assert await indexer.bars(bars("X", DAYS, PRICES["X"])) == []
    # The same definition again is not a new version.
    stored = await indexer.define(
        definition("xy", universe={"constituents": ["X", "Y"]}, rebalance="weekly")
    )
    assert (stored.version, stored.created) == (1, False)
    assert await indexer.queued() == []
    # A forced recompute of unchanged inputs finds every level and rebalance as stored.
    async with indexer.engine.connect() as conn:
        await repository.mark_pending(conn, ["xy"], "test")
        await conn.commit()
    outcomes = await indexer.run_queue()
    assert [(o.status, o.published_levels, o.published_rebalances) for o in outcomes] == [
        ("computed", 0, 0)
    ]
    assert await indexer.outbox() == published


async def test_definition_change_is_a_new_version_with_its_own_history(indexer: Indexer) -> None:
    await indexer.define(definition("xy", universe={"constituents": ["X", "Y"]}))
    await _price_everything(indexer)
    await indexer.run_queue()
    v1 = await indexer.levels("xy", 1)

    changed = definition(
        "xy",
        universe={"constituents": ["X", "Y"]},
        weighting={"method": "fixed", "weights": {"X": 0.75, "Y": 0.25}},
    )
    stored = await indexer.define(changed)
    assert (stored.version, stored.created) == (2, True)
    outcomes = await indexer.run_queue()
    assert [(o.version, o.published_levels) for o in outcomes] == [(2, len(DAYS))]

    v2 = await indexer.levels("xy", 2)
    expected = {
        d: 100.0 * (0.75 * x / PRICES["X"][0] + 0.25 * y / PRICES["Y"][0])
        for d, x, y in zip(DAYS, PRICES["X"], PRICES["Y"], strict=True)
    }
    assert list(v2) == DAYS
    assert list(v2.values()) == pytest.approx(list(expected.values()), rel=1e-12)
    assert await indexer.levels("xy", 1) == v1  # the old version is kept as it was
    events = await indexer.outbox(topics.INDEXES_LEVELS)
    assert [(e["payload"]["version"], len(e["payload"]["levels"])) for e in events] == [
        (1, len(DAYS)),
        (2, len(DAYS)),
    ]


async def test_portfolio_index_follows_mappings_then_closes(indexer: Indexer) -> None:
    await indexer.define(definition("fund", universe={"portfolio": "FUND"}, weighting="holdings"))
    await indexer.run_queue()
    assert await indexer.holdings(
        holdings_chunk("FUND", DAYS[0], {"111111111": 10.0, "222222222": 30.0})
    ) == ["fund"]
    assert [(o.status, o.detail) for o in await indexer.run_queue()] == [
        ("waiting", "2 identifiers not mapped yet")
    ]
    # A mapping queues the portfolio's index; its closes then queue it too.
    assert await indexer.security(mapping("111111111", "X")) == ["fund"]
    await indexer.run_queue()
    assert await indexer.bars(bars("X", DAYS, PRICES["X"])) == ["fund"]
    assert await indexer.security(mapping("222222222", "Y")) == ["fund"]
    assert await indexer.security(mapping("222222222", "Y")) == []  # unchanged: nothing
    assert [(o.status, o.detail) for o in await indexer.run_queue()] == [
        ("waiting", "no prices yet for ['Y']")
    ]
    assert await indexer.bars(bars("Z", DAYS, PRICES["Z"])) == []  # not held
    assert await indexer.bars(bars("Y", DAYS, PRICES["Y"])) == ["fund"]
    outcomes = await indexer.run_queue()
    assert [(o.status, o.published_levels) for o in outcomes] == [("computed", len(DAYS))]
    base = 10 * PRICES["X"][0] + 30 * PRICES["Y"][0]
    expected = [
        100.0 * (10 * x + 30 * y) / base for x, y in zip(PRICES["X"], PRICES["Y"], strict=True)
    ]
    assert list((await indexer.levels("fund", 1)).values()) == pytest.approx(expected, rel=1e-12)


async def test_backfill_asks_pricing_for_the_members_history(indexer: Indexer) -> None:
    await indexer.define(definition("xy", universe={"constituents": ["X", "Y"]}))
    await indexer.run_queue()
    async with UnitOfWork(indexer.engine, producer=service.PRODUCER) as uow:
        requested = await service.request_backfill(uow=uow, index_id="xy", end=dt.date(2024, 6, 28))
        missing = await service.request_backfill(uow=uow, index_id="nope")
        await uow.commit()
    assert missing is None
    assert requested is not None and requested.symbols == ["X", "Y"]
    [command] = await indexer.outbox(topics.PRICING_REFRESH_REQUESTED)
    assert command["_key"] == "xy"
    assert command["payload"] == {
        "symbols": ["X", "Y"],
        "start": DAYS[0].isoformat(),
        "end": "2024-06-28",
        "interval": "1d",
    }
    assert await indexer.queued() == ["xy"]
