"""Splits and dividends arriving with market.bars.v1 reach the service's indexes: dividends
are reinvested in a total-return index, splits on raw closes are level-neutral, and the
closes' basis decides what still needs applying."""

from __future__ import annotations

import pytest

from secmaster_common.events import BarsPublished, CorporateActionItem

from .conftest import DAYS, Indexer, bars, definition, walk

pytestmark = pytest.mark.integration

X, Y = walk(101), walk(102)
EX_DAY = 9  # index into DAYS


def with_actions(
    batch: BarsPublished, basis: str, actions: list[CorporateActionItem]
) -> BarsPublished:
    return batch.model_copy(update={"basis": basis, "actions": actions})


def price_levels(x: list[float], y: list[float]) -> list[float]:
    """Equal weight, never rebalanced: 100 x mean of the price relatives since the base."""
    return [100.0 * (a / x[0] + b / y[0]) / 2 for a, b in zip(x, y, strict=True)]


async def test_dividend_is_reinvested_in_a_total_return_index(indexer: Indexer) -> None:
    dividend = 1.25
    await indexer.define(
        definition("tr", universe={"constituents": ["X", "Y"]}, return_type="total")
    )
    await indexer.define(definition("pr", universe={"constituents": ["X", "Y"]}))
    action = CorporateActionItem(type="dividend", date=DAYS[EX_DAY], amount=dividend)
    await indexer.bars(with_actions(bars("X", DAYS, X), "split", [action]))
    await indexer.bars(with_actions(bars("Y", DAYS, Y), "split", []))
    await indexer.run_queue()

    pl = price_levels(X, Y)
    assert list((await indexer.levels("pr", 1)).values()) == pytest.approx(pl, rel=1e-12)
    # S&P total return: TR_t = TR_t-1 x (PL_t + IDP_t) / PL_t-1, with index dividend points
    # IDP = index shares of X (0.5 x 100 / X_0 per unit divisor) x the dividend, on the ex-date.
    expected = [100.0]
    for t in range(1, len(DAYS)):
        idp = 100.0 * 0.5 * dividend / X[0] if t == EX_DAY else 0.0
        expected.append(expected[-1] * (pl[t] + idp) / pl[t - 1])
    got = list((await indexer.levels("tr", 1)).values())
    assert got == pytest.approx(expected, rel=1e-12)
    assert got[-1] > pl[-1]  # the dividend was not lost


async def test_dividend_already_in_the_closes_is_not_counted_twice(indexer: Indexer) -> None:
    await indexer.define(
        definition("tr2", universe={"constituents": ["X", "Y"]}, return_type="total")
    )
    action = CorporateActionItem(type="dividend", date=DAYS[EX_DAY], amount=1.25)
    await indexer.bars(with_actions(bars("X", DAYS, X), "split_dividend", [action]))
    await indexer.bars(with_actions(bars("Y", DAYS, Y), "split_dividend", []))
    await indexer.run_queue()
    got = list((await indexer.levels("tr2", 1)).values())
    assert got == pytest.approx(price_levels(X, Y), rel=1e-12)


async def test_split_on_raw_closes_is_level_neutral(indexer: Indexer) -> None:
    await indexer.define(definition("sp", universe={"constituents": ["X", "Y"]}))
    raw_x = [c / 2 if t >= EX_DAY else c for t, c in enumerate(X)]  # 2-for-1 on the ex-date
    split = CorporateActionItem(type="split", date=DAYS[EX_DAY], ratio=2.0)
    await indexer.bars(with_actions(bars("X", DAYS, raw_x), "raw", [split]))
    await indexer.bars(with_actions(bars("Y", DAYS, Y), "raw", []))
    await indexer.run_queue()
    got = list((await indexer.levels("sp", 1)).values())
    assert got == pytest.approx(price_levels(X, Y), rel=1e-12)


async def test_a_late_action_requeues_the_index(indexer: Indexer) -> None:
    await indexer.define(
        definition("late", universe={"constituents": ["X", "Y"]}, return_type="total")
    )
    await indexer.bars(with_actions(bars("X", DAYS, X), "split", []))
    await indexer.bars(with_actions(bars("Y", DAYS, Y), "split", []))
    await indexer.run_queue()
    before = list((await indexer.levels("late", 1)).values())
    # The same closes again, now with a dividend: only the action is new.
    action = CorporateActionItem(type="dividend", date=DAYS[EX_DAY], amount=1.0)
    assert await indexer.bars(with_actions(bars("X", DAYS, X), "split", [action])) == ["late"]
    await indexer.run_queue()
    after = list((await indexer.levels("late", 1)).values())
    assert after[:EX_DAY] == before[:EX_DAY]
    assert after[EX_DAY] > before[EX_DAY]
