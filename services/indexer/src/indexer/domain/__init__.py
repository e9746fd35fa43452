"""The indexer's pure domain: index definitions, the level engine and risk metrics."""

from indexer.domain.definition import DefinitionError, IndexDefinition
from indexer.domain.levels import IndexInputError, IndexResult, LevelRow, Rebalance, compute_index
from indexer.domain.panel import Event, HoldingsSnapshot, Panel
from indexer.domain.risk import risk_metrics

__all__ = [
    "DefinitionError",
    "Event",
    "HoldingsSnapshot",
    "IndexDefinition",
    "IndexInputError",
    "IndexResult",
    "LevelRow",
    "Panel",
    "Rebalance",
    "compute_index",
    "risk_metrics",
]
