"""Index definitions from YAML and JSON: the accepted shapes and the errors users see."""

from __future__ import annotations

import json
from datetime import date

import pytest

from indexer.domain.definition import (
    CappedMarketCapWeighting,
    ConstituentUniverse,
    DefinitionError,
    HoldingsWeighting,
    TopMarketCapUniverse,
    definition_from_json,
    definition_from_yaml,
)

YAML = """
id: tech-capped
name: Tech capped 25%
version: 2
base_date: 2020-01-02
base_value: 1000
weighting: {method: capped_market_cap, cap: 0.25}
universe:
  constituents:
    - AAPL
    - {symbol: MSFT, start: 2020-06-01}
    - {symbol: IBM, end: 2021-01-04}
rebalance: quarterly
return_type: total
currency: USD
"""


def test_yaml_definition_with_point_in_time_constituents():
    d = definition_from_yaml(YAML)
    assert d.id == "tech-capped" and d.version == 2 and d.base_value == 1000.0
    assert isinstance(d.weighting, CappedMarketCapWeighting) and d.weighting.cap == 0.25
    assert isinstance(d.universe, ConstituentUniverse)
    members = {c.symbol: (c.start, c.end) for c in d.universe.constituents}
    assert members == {
        "AAPL": (None, None),
        "MSFT": (date(2020, 6, 1), None),
        "IBM": (None, date(2021, 1, 4)),
    }
    assert d.rebalance == "quarterly" and d.return_type == "total"


def test_json_round_trip_is_the_same_definition():
    d = definition_from_yaml(YAML)
    assert definition_from_json(d.model_dump_json()) == d


def test_holdings_and_top_n_shapes():
    holdings = definition_from_json(
        json.dumps(
            {
                "id": "fund-replica",
                "name": "Fund replica",
                "base_date": "2021-01-04",
                "weighting": "holdings",
                "universe": {"portfolio": "FUND-1"},
            }
        )
    )
    assert isinstance(holdings.weighting, HoldingsWeighting)
    top = definition_from_yaml(
        "id: top2\nname: Top 2\nbase_date: 2021-01-04\nweighting: market_cap\n"
        "universe: {rule: top_market_cap, n: 2}\n"
    )
    assert isinstance(top.universe, TopMarketCapUniverse) and top.universe.n == 2


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("weighting: {method: capped_market_cap, cap: 1.5}", "weighting.capped_market_cap.cap"),
        ("weighting: {method: golden}", "weighting"),
        ("universe: {tickers: [AAPL]}", "universe"),
        ("rebalance: yearly", "rebalance"),
        ("currency: usd", "currency"),
        ("base_value: -5", "base_value"),
    ],
)
def test_invalid_fields_are_named_in_the_error(change, where):
    key = change.split(":")[0]
    lines = [ln for ln in YAML.splitlines() if not ln.startswith(key)]
    if key == "universe":
        lines = [ln for ln in lines if not ln.startswith("  ") and not ln.startswith("    ")]
    text = "\n".join(lines) + "\n" + change + "\n"
    with pytest.raises(DefinitionError) as err:
        definition_from_yaml(text, source="spec.yaml")
    message = str(err.value)
    assert message.startswith("spec.yaml: invalid index definition")
    assert f"  {where}" in message


def test_fixed_weights_must_cover_the_constituents_and_sum_to_one():
    base = "id: f\nname: f\nbase_date: 2021-01-04\nuniverse: {constituents: [A, B]}\n"
    ok = definition_from_yaml(base + "weighting: {method: fixed, weights: {A: 0.6, B: 0.4}}")
    assert ok.weighting.method == "fixed"
    with pytest.raises(DefinitionError, match="sum to 1"):
        definition_from_yaml(base + "weighting: {method: fixed, weights: {A: 0.6, B: 0.6}}")
    with pytest.raises(DefinitionError, match=r"no weight for \['B'\]"):
        definition_from_yaml(base + "weighting: {method: fixed, weights: {A: 1.0}}")


def test_holdings_weighting_needs_a_portfolio():
    with pytest.raises(DefinitionError, match="needs a `portfolio` universe"):
        definition_from_yaml(
            "id: h\nname: h\nbase_date: 2021-01-04\nweighting: holdings\n"
            "universe: {constituents: [A]}\n"
        )


def test_unparseable_documents_say_so():
    with pytest.raises(DefinitionError, match="not valid YAML"):
        definition_from_yaml("id: [unclosed", source="bad.yaml")
    with pytest.raises(DefinitionError, match=r"not valid JSON \(line 1"):
        definition_from_json("{", source="bad.json")
    with pytest.raises(DefinitionError, match="must be a mapping"):
        definition_from_yaml("- just\n- a list\n")
