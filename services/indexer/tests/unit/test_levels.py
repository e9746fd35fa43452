"""The level engine's rules: rebalance timing, continuity, carry-forward, point-in-time
membership, holdings and top-N universes, splits, determinism, input errors."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from indexer.domain.levels import IndexInputError, compute_index
from indexer.domain.panel import Event, HoldingsSnapshot, Panel, as_dates

NAN = float("nan")


def _weekdays(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _random_panel(n_days: int, symbols: str, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.02, size=(n_days, len(symbols)))
    closes = 50.0 * np.exp(np.cumsum(steps, axis=0))
    return Panel(as_dates(_weekdays(date(2023, 1, 2), n_days)), tuple(symbols), closes)


def _market_values(result, prices: Panel) -> np.ndarray:
    """sum(close x index shares held after each close), from the published rebalances."""
    out = np.empty(len(result.dates))
    starts = [np.searchsorted(result.dates, np.datetime64(rb.day)) for rb in result.rebalances]
    for k, rb in enumerate(result.rebalances):
        end = starts[k + 1] if k + 1 < len(starts) else len(out)
        q = np.zeros(len(prices.symbols))
        q[rb.columns] = rb.index_shares
        out[starts[k] : end] = prices.values[starts[k] : end] @ q
    return out


def test_monthly_rebalance_is_at_the_close_of_the_first_trading_day(make_definition, make_panel):
    days = [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 2), date(2024, 2, 5)]
    panel = make_panel(days, {"X": [10, 20, 20, 22], "Y": [10, 10, 10, 10]})
    definition = make_definition(
        base_date=days[0], rebalance="monthly", universe={"constituents": ["X", "Y"]}
    )
    result = compute_index(definition, panel)

    assert [rb.day for rb in result.rebalances] == [days[0], date(2024, 2, 2)]
    assert "rebalance" in result.flags[2]
    # Drifted into X before the rebalance: Feb 2 still earns the drifted mix (flat).
    assert result.levels[1] == pytest.approx(150.0)
    assert result.levels[2] == pytest.approx(150.0)
    assert result.rebalances[1].weight_map() == pytest.approx({"X": 0.5, "Y": 0.5})
    # After the reset, X's +10% counts for half: +5%.
    assert result.levels[3] == pytest.approx(157.5)


def test_level_equals_market_value_over_divisor_every_day(make_definition):
    prices = _random_panel(300, "ABCDEFGH", seed=7)
    shares = Panel(prices.dates[:1], prices.symbols, np.linspace(1e6, 8e6, 8)[np.newaxis, :])
    definition = make_definition(
        base_date=date(2023, 1, 2),
        weighting={"method": "capped_market_cap", "cap": 0.2},
        universe={"constituents": list("ABCDEFGH")},
        rebalance="weekly",
    )
    result = compute_index(definition, prices, shares=shares)
    assert len(result.rebalances) == 60  # base + every following Monday
    np.testing.assert_allclose(
        result.levels, _market_values(result, prices) / result.divisors, rtol=1e-13
    )
    for rb in result.rebalances:
        assert max(rb.weights) <= 0.2 + 1e-12
        assert sum(rb.weights) == pytest.approx(1.0, rel=1e-12)


def test_missing_close_is_carried_forward_and_flagged(make_definition, make_panel):
    days = _weekdays(date(2024, 3, 4), 4)
    panel = make_panel(days, {"X": [10, NAN, NAN, 12], "Y": [10, 11, 12, 12]})
    result = compute_index(
        make_definition(base_date=days[0], universe={"constituents": ["X", "Y"]}), panel
    )
    assert result.flags[1] == ("carried_forward:X",)
    assert result.flags[2] == ("carried_forward:X",)
    assert result.flags[3] == ()
    np.testing.assert_allclose(result.levels, [100, 105, 110, 120])


def test_constituent_added_and_removed_point_in_time(make_definition, make_panel):
    days = _weekdays(date(2024, 3, 4), 5)
    panel = make_panel(
        days, {"X": [10, 11, 12, 12, 12], "Y": [10, 10, 10, 20, 20], "Z": [NAN, 5, 5, 5, 10]}
    )
    universe = {
        "constituents": ["X", {"symbol": "Y", "end": days[3]}, {"symbol": "Z", "start": days[1]}]
    }
    result = compute_index(make_definition(base_date=days[0], universe=universe), panel)

    added, removed = result.rebalances[1:]
    assert (added.day, added.reason, sorted(added.weight_map())) == (
        days[1],
        "constituents",
        ["X", "Y", "Z"],
    )
    assert (removed.day, sorted(removed.weight_map())) == (days[3], ["X", "Z"])
    # Levels never jump at a change; Y's doubling on its last day still counts.
    np.testing.assert_allclose(result.levels[:2], [100, 105])
    # Bought equally at day 1's close, held (drifting) through day 3.
    assert result.levels[2] == pytest.approx(105 * (12 / 11 + 10 / 10 + 5 / 5) / 3)
    assert result.levels[3] == pytest.approx(105 * (12 / 11 + 20 / 10 + 5 / 5) / 3)
    # Re-weighted to X and Z half each at day 3's close; Z doubles on day 4.
    assert result.levels[4] == pytest.approx(result.levels[3] * (0.5 * 1 + 0.5 * 2))


def test_holdings_index_follows_the_portfolio_value(make_definition, make_panel):
    days = _weekdays(date(2024, 5, 6), 4)
    panel = make_panel(days, {"X": [10, 11, 12, 13], "Y": [100, 90, 95, 100], "Z": [5, 5, 6, 7]})
    snapshots = [
        HoldingsSnapshot(days[0], {"X": 300, "Y": 20}),
        HoldingsSnapshot(days[2], {"X": 100, "Z": 400}),
    ]
    definition = make_definition(
        base_date=days[0], weighting="holdings", universe={"portfolio": "FUND-1"}
    )
    result = compute_index(definition, panel, holdings=snapshots)

    value = lambda q, t: sum(qty * panel.values[t, panel.column(s)] for s, qty in q.items())  # noqa: E731
    a, b = snapshots[0].quantities, snapshots[1].quantities
    assert result.levels[1] == pytest.approx(100 * value(a, 1) / value(a, 0))
    level2 = 100 * value(a, 2) / value(a, 0)
    assert result.levels[2] == pytest.approx(level2)
    assert result.levels[3] == pytest.approx(level2 * value(b, 3) / value(b, 2))
    assert result.rebalances[1].shares_map() == pytest.approx({"X": 100, "Z": 400})
    assert result.divisors[0] == pytest.approx(value(a, 0) / 100)


def test_top_n_by_market_cap_reselects_at_rebalances(make_definition, make_panel):
    days = [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 2)]
    panel = make_panel(days, {"X": [10, 10, 10, 10], "Y": [9, 9, 12, 12], "Z": [1, 1, 1, 1]})
    shares = make_panel([days[0]], {"X": [1.0], "Y": [1.0], "Z": [5.0]})
    definition = make_definition(
        base_date=days[0],
        weighting="market_cap",
        rebalance="monthly",
        universe={"rule": "top_market_cap", "n": 1},
    )
    result = compute_index(definition, panel, shares=shares)
    assert [list(rb.weight_map()) for rb in result.rebalances] == [["X"], ["Y"]]
    assert result.rebalances[1].day == date(2024, 2, 1)


def test_split_is_level_neutral_for_a_market_cap_index(make_definition):
    adjusted = _random_panel(120, "ABC", seed=3)
    raw_values = adjusted.values.copy()
    raw_values[:60, 1] *= 4.0  # B split 4-for-1 on day 60: raw closes before are 4x
    raw = Panel(adjusted.dates, adjusted.symbols, raw_values)
    shares = Panel(adjusted.dates[:1], adjusted.symbols, np.asarray([[3e6, 1e6, 2e6]]))
    definition = make_definition(
        base_date=date(2023, 1, 2), weighting="market_cap", universe={"constituents": list("ABC")}
    )
    split = Event(adjusted.dates[60].item(), "B", 4.0)
    raw_shares = Panel(adjusted.dates[:1], adjusted.symbols, np.asarray([[3e6, 0.25e6, 2e6]]))
    from_raw = compute_index(definition, raw, shares=raw_shares, splits=[split])
    from_adjusted = compute_index(definition, adjusted, shares=shares)
    np.testing.assert_allclose(from_raw.levels, from_adjusted.levels, rtol=1e-14)
    assert "split:B" in from_raw.flags[60]
    assert from_raw.divisors[59] == from_raw.divisors[60]


def test_same_inputs_give_bit_identical_levels(make_definition):
    prices = _random_panel(400, "ABCDEFGHIJ", seed=11)
    shares = Panel(prices.dates[:1], prices.symbols, np.arange(1.0, 11.0)[np.newaxis, :] * 1e6)
    definition = make_definition(
        base_date=date(2023, 1, 2),
        weighting={"method": "capped_market_cap", "cap": 0.15},
        universe={"constituents": list("ABCDEFGHIJ")},
        rebalance="monthly",
        return_type="total",
    )
    dividends = [Event(prices.dates[k].item(), "C", 0.4) for k in (50, 150, 250)]
    first = compute_index(definition, prices, shares=shares, dividends=dividends)
    copy = Panel(prices.dates.copy(), prices.symbols, np.array(prices.values, order="C", copy=True))
    second = compute_index(definition, copy, shares=shares, dividends=dividends)
    assert first.levels.tobytes() == second.levels.tobytes()
    assert first.divisors.tobytes() == second.divisors.tobytes()
    assert first.flags == second.flags


def test_infeasible_cap_falls_back_to_equal_weights_and_says_so(make_definition, make_panel):
    days = _weekdays(date(2024, 1, 2), 2)
    panel = make_panel(days, {"X": [10, 10], "Y": [10, 10]})
    shares = make_panel(days[:1], {"X": [9.0], "Y": [1.0]})
    definition = make_definition(
        base_date=days[0],
        weighting={"method": "capped_market_cap", "cap": 0.3},
        universe={"constituents": ["X", "Y"]},
    )
    result = compute_index(definition, panel, shares=shares)
    assert "cap_infeasible" in result.flags[0]
    assert result.rebalances[0].weight_map() == pytest.approx({"X": 0.5, "Y": 0.5})


def test_inputs_that_cannot_make_an_index_are_explained(make_definition, make_panel):
    days = _weekdays(date(2024, 1, 2), 2)
    panel = make_panel(days, {"X": [10, 10], "Y": [10, 10]})
    with pytest.raises(IndexInputError, match="needs shares outstanding"):
        compute_index(
            make_definition(
                base_date=days[0], weighting="market_cap", universe={"constituents": ["X"]}
            ),
            panel,
        )
    with pytest.raises(IndexInputError, match="symbols with no prices: Z"):
        compute_index(make_definition(base_date=days[0]), panel)
    with pytest.raises(IndexInputError, match="no prices on or after the base date 2025-01-01"):
        compute_index(
            make_definition(base_date=date(2025, 1, 1), universe={"constituents": ["X"]}), panel
        )
    bad = make_panel(days, {"X": [10, -1], "Y": [10, 10]})
    with pytest.raises(IndexInputError, match=r"close of X on 2024-01-03 is -1\.0"):
        compute_index(make_definition(base_date=days[0], universe={"constituents": ["X"]}), bad)
