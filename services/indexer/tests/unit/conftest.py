"""Factories for index definitions and price panels used across the indexer unit tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pytest

from indexer.domain.definition import IndexDefinition
from indexer.domain.panel import Panel, as_dates

DefinitionFactory = Callable[..., IndexDefinition]
PanelFactory = Callable[[Sequence[date], Mapping[str, Sequence[float]]], Panel]


@pytest.fixture
def make_definition() -> DefinitionFactory:
    def build(**overrides: Any) -> IndexDefinition:
        document: dict[str, Any] = {
            "id": "test-index",
            "name": "Test index",
            "base_date": date(2024, 1, 2),
            "base_value": 100.0,
            "weighting": "equal",
            "universe": {"constituents": ["X", "Y", "Z"]},
            "rebalance": "never",
        }
        document.update(overrides)
        return IndexDefinition.model_validate(document)

    return build


@pytest.fixture
def make_panel() -> PanelFactory:
    """A panel from dates and one column of values per symbol (NaN = no observation)."""

    def build(dates: Sequence[date], columns: Mapping[str, Sequence[float]]) -> Panel:
        values = np.column_stack([np.asarray(v, dtype=np.float64) for v in columns.values()])
        return Panel(dates=as_dates(list(dates)), symbols=tuple(columns), values=values)

    return build
