"""The worked examples of index_math_worked_examples.json, by formula and through the engine."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.domain.levels import compute_index
from indexer.domain.methodology import (
    adjustment_factors,
    cap_weights,
    divisor_after_market_value_change,
    divisor_for_continuity,
    equal_weight_factors,
    index_dividend_points,
    index_level,
    total_return_level,
)
from indexer.domain.panel import Event

D0, D1 = date(2024, 1, 2), date(2024, 1, 3)
EXACT = 1e-15  # "exact" up to the last bit of a double


@pytest.fixture(scope="module")
def examples(reference_dir: Path) -> dict[str, dict[str, Any]]:
    path = reference_dir / "indexmath" / "index_math_worked_examples.json"
    return {e["id"]: e for e in json.loads(path.read_text())}


def _arr(mapping: dict[str, float]) -> np.ndarray:
    return np.asarray([mapping[k] for k in ("X", "Y", "Z")], dtype=np.float64)


def test_we1_market_cap_level_weights_and_50pct_cap(examples, make_definition, make_panel):
    we = examples["WE1_mcap_and_capped_50pct"]
    prices, qty = _arr(we["inputs"]["price"]), _arr(we["inputs"]["quantity"])
    expected = we["expected"]
    assert index_level(prices, qty, we["inputs"]["divisor"]) == expected["index_level"]

    uncapped = prices * qty / np.dot(prices, qty)
    np.testing.assert_allclose(uncapped, _arr(expected["weights"]), rtol=EXACT)
    capped = cap_weights(uncapped, we["inputs"]["cap"])
    np.testing.assert_allclose(capped.weights, _arr(expected["capped_weights"]), rtol=EXACT)
    awf = adjustment_factors(capped.weights, uncapped)
    np.testing.assert_allclose(awf, _arr(expected["awf"]), rtol=1e-14)
    level = index_level(prices, qty * awf, we["inputs"]["divisor"])
    assert level == pytest.approx(expected["index_level_after_capping_same_divisor"], rel=1e-15)

    # The engine, capped from the base date: same AWFs, same divisor, level 100.
    definition = make_definition(weighting={"method": "capped_market_cap", "cap": 0.5})
    panel = make_panel([D0], {k: [v] for k, v in we["inputs"]["price"].items()})
    shares = make_panel([D0], {k: [v] for k, v in we["inputs"]["quantity"].items()})
    result = compute_index(definition, panel, shares=shares)
    base = result.rebalances[0]
    np.testing.assert_allclose(base.index_shares / qty, _arr(expected["awf"]), rtol=1e-14)
    assert result.divisors[0] == pytest.approx(we["inputs"]["divisor"], rel=1e-15)
    assert base.weight_map() == pytest.approx(expected["capped_weights"], rel=1e-14)


def test_we2_price_weighted_split_moves_the_divisor_not_the_level(
    examples, make_definition, make_panel
):
    we = examples["WE2_price_weighted_split"]
    before, after = we["inputs"]["prices_before"], we["expected"]["prices_after"]
    definition = make_definition(weighting="price", base_value=we["expected"]["index_before"])
    panel = make_panel([D0, D1], {s: [b, a] for s, b, a in zip("XYZ", before, after, strict=True)})
    ratio = we["inputs"]["split"]["ratio"]
    result = compute_index(definition, panel, splits=[Event(D1, "X", ratio)])

    assert result.divisors[0] == we["inputs"]["divisor_before"]
    assert result.divisors[1] == pytest.approx(we["expected"]["divisor_after"], rel=EXACT)
    assert result.levels[1] == pytest.approx(we["expected"]["index_after"], rel=EXACT)
    assert result.rebalances[-1].reason == "split"
    assert "split:X" in result.flags[1]


def test_we3_replacement_keeps_level_and_resolves_divisor(examples, make_definition, make_panel):
    we1, we = examples["WE1_mcap_and_capped_50pct"], examples["WE3_replacement_divisor"]
    added = we["inputs"]["add"]["W"]
    universe = {
        "constituents": [
            {"symbol": "X", "end": D1},
            "Y",
            "Z",
            {"symbol": "W", "start": D1},
        ]
    }
    definition = make_definition(weighting="market_cap", universe=universe)
    nan = float("nan")
    p, q = we1["inputs"]["price"], we1["inputs"]["quantity"]
    panel = make_panel(
        [D0, D1],
        {"X": [p["X"]] * 2, "Y": [p["Y"]] * 2, "Z": [p["Z"]] * 2, "W": [nan, added["price"]]},
    )
    shares = make_panel(
        [D0], {"X": [q["X"]], "Y": [q["Y"]], "Z": [q["Z"]], "W": [added["quantity"]]}
    )
    result = compute_index(definition, panel, shares=shares)

    change = result.rebalances[-1]
    assert change.reason == "constituents"
    assert set(change.weight_map()) == {"Y", "Z", "W"}
    assert result.divisors[1] == pytest.approx(we["expected"]["divisor_after"], rel=EXACT)
    assert result.levels[1] == we["expected"]["index_level_after"]
    mv_after = sum(change.shares_map()[s] * v for s, v in {"Y": 200, "Z": 300, "W": 50}.items())
    assert mv_after == we["expected"]["index_market_value_after"]
    assert divisor_for_continuity(mv_after, 100.0) == we["expected"]["divisor_after"]


def test_we4_equal_weight_factors_and_next_day_mean_return(examples, make_definition, make_panel):
    we1, we = examples["WE1_mcap_and_capped_50pct"], examples["WE4_equal_weight_awf"]
    prices, qty = _arr(we1["inputs"]["price"]), _arr(we1["inputs"]["quantity"])
    awf = equal_weight_factors(3.6e9, prices, qty)
    np.testing.assert_allclose(awf, _arr(we["expected"]["awf"]), rtol=EXACT)
    nxt = _arr(we["inputs"]["next_day_prices"])
    assert index_level(prices, qty * awf, 36e6) == we["expected"]["level_rebalance_day"]
    assert index_level(nxt, qty * awf, 36e6) == pytest.approx(
        we["expected"]["level_next_day"], rel=EXACT
    )

    result = compute_index(
        make_definition(weighting="equal"),
        make_panel([D0, D1], {s: [a, b] for s, a, b in zip("XYZ", prices, nxt, strict=True)}),
    )
    assert result.levels.tolist() == pytest.approx(
        [we["expected"]["level_rebalance_day"], we["expected"]["level_next_day"]], rel=EXACT
    )
    assert result.levels[1] == pytest.approx(100 * np.mean(nxt / prices), rel=EXACT)


def test_we5_total_return_reinvests_dividend_points(examples, make_definition, make_panel):
    we = examples["WE5_total_return"]
    i, expected = we["inputs"], we["expected"]
    points = index_dividend_points(
        np.asarray([i["dividend_per_unit"]["Y"]]), np.asarray([i["quantity_Y"]]), i["divisor"]
    )
    assert points == pytest.approx(expected["index_dividend_points"], rel=EXACT)
    tr = total_return_level(i["tr_level_prev"], i["pr_level_now"], i["pr_level_prev"], points)
    assert tr == pytest.approx(float(Fraction(expected["tr_level_now_exact"])), rel=EXACT)
    assert tr / i["tr_level_prev"] - 1 == pytest.approx(expected["daily_total_return"], rel=1e-13)

    # The engine: PR level goes 100 -> 101 while Y pays 2 per share; the TR index starts
    # at 250 and must land on 9115/36.
    definition = make_definition(
        weighting="market_cap", return_type="total", base_value=i["tr_level_prev"]
    )
    panel = make_panel([D0, D1], {"X": [100, 101], "Y": [200, 202], "Z": [300, 303]})
    shares = make_panel([D0], {"X": [2e6], "Y": [5e6], "Z": [8e6]})
    result = compute_index(
        definition, panel, shares=shares, dividends=[Event(D1, "Y", i["dividend_per_unit"]["Y"])]
    )
    assert result.levels[1] == pytest.approx(
        float(Fraction(expected["tr_level_now_exact"])), rel=EXACT
    )
    assert "dividend:Y" in result.flags[1]
    price_only = compute_index(
        make_definition(weighting="market_cap", base_value=100.0),
        panel,
        shares=shares,
        dividends=[Event(D1, "Y", 2.0)],
    )
    assert price_only.levels[1] == pytest.approx(i["pr_level_now"], rel=EXACT)


def test_we6_iterative_cap_at_20pct_takes_two_passes(examples):
    we = examples["WE6_iterative_cap_20pct"]
    result = cap_weights(np.asarray(we["inputs"]["weights"]), we["inputs"]["cap"])
    np.testing.assert_allclose(result.weights, we["expected"]["capped_weights"], rtol=1e-14)
    assert result.passes == we["expected"]["passes"]
    assert result.feasible


def test_we7_share_issuance_resolves_divisor(examples, make_definition, make_panel):
    we1, we = examples["WE1_mcap_and_capped_50pct"], examples["WE7_share_issuance_divisor"]
    issue = we["inputs"]["issue"]["Y"]
    p, q = we1["inputs"]["price"], we1["inputs"]["quantity"]
    assert (
        divisor_after_market_value_change(36e6, 3.6e9, issue["new_units"] * issue["price"])
        == we["expected"]["divisor_after"]
    )

    panel = make_panel([D0, D1], {k: [v, v] for k, v in p.items()})
    shares = make_panel(
        [D0, D1], {"X": [q["X"]] * 2, "Y": [q["Y"], q["Y"] + issue["new_units"]], "Z": [q["Z"]] * 2}
    )
    result = compute_index(
        make_definition(weighting="market_cap", rebalance="daily"), panel, shares=shares
    )
    assert result.divisors[1] == we["expected"]["divisor_after"]
    assert result.levels[1] == we["expected"]["index_level_after"]
