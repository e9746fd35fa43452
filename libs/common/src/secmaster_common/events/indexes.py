"""Contracts of the index topics: definitions in, levels and rebalances out."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from secmaster_common.events import topics
from secmaster_common.events.envelope import Payload


class IndexDefinitionPublished(Payload):
    """A new version of an index definition (the indexer validates `definition`)."""

    topic: ClassVar[str] = topics.INDEXES_DEFINITIONS
    event_type: ClassVar[str] = "index.definition_published"

    index_id: str
    definition: dict[str, Any]


class IndexLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    level: float
    divisor: float
    constituents: int
    stale_prices: list[str] = []


class IndexLevelsComputed(Payload):
    """Levels for one index version (dates ascending)."""

    topic: ClassVar[str] = topics.INDEXES_LEVELS
    event_type: ClassVar[str] = "index.levels_computed"

    index_id: str
    version: int
    levels: list[IndexLevel]


class Allocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    weight: float
    shares: float


class IndexRebalanced(Payload):
    """An allocation decided at a rebalance close: weights and index shares."""

    topic: ClassVar[str] = topics.INDEXES_REBALANCES
    event_type: ClassVar[str] = "index.rebalanced"

    index_id: str
    version: int
    date: dt.date
    divisor: float
    allocations: list[Allocation]
