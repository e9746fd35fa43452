"""Versioned event contracts (pydantic v2), one module per topic family."""

from secmaster_common.events import topics
from secmaster_common.events.enrichment import EnrichmentRequested, IdentifierRef
from secmaster_common.events.envelope import (
    Envelope,
    Payload,
    envelope_json,
    new_envelope,
)
from secmaster_common.events.indexes import (
    Allocation,
    IndexDefinitionPublished,
    IndexLevel,
    IndexLevelsComputed,
    IndexRebalanced,
)
from secmaster_common.events.pricing import (
    Bar,
    BarsPublished,
    CorporateActionItem,
    FundamentalsObserved,
    RefreshPrices,
)
from secmaster_common.events.reference import (
    HoldingLine,
    HoldingsSnapshotChunk,
    IdType,
    InstrumentRecorded,
    InstrumentSubmitted,
    SecurityMapped,
)

__all__ = [
    "Allocation",
    "Bar",
    "BarsPublished",
    "CorporateActionItem",
    "EnrichmentRequested",
    "Envelope",
    "FundamentalsObserved",
    "HoldingLine",
    "HoldingsSnapshotChunk",
    "IdType",
    "IdentifierRef",
    "IndexDefinitionPublished",
    "IndexLevel",
    "IndexLevelsComputed",
    "IndexRebalanced",
    "InstrumentRecorded",
    "InstrumentSubmitted",
    "Payload",
    "RefreshPrices",
    "SecurityMapped",
    "envelope_json",
    "new_envelope",
    "topics",
]
