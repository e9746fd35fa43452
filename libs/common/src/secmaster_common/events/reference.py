"""Contracts of the reference-data topics: instruments, holdings snapshots, securities."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from secmaster_common.events import topics
from secmaster_common.events.envelope import Payload

IdType = Literal["ISIN", "CUSIP", "SEDOL", "FIGI", "TICKER", "LEI", "OTHER"]


class InstrumentSubmitted(Payload):
    """A raw instrument record from an outside producer, to validate and ingest."""

    topic: ClassVar[str] = topics.INSTRUMENTS_SUBMITTED
    event_type: ClassVar[str] = "instrument.submitted"

    source: str
    record: dict[str, Any]


class InstrumentRecorded(Payload):
    """An instrument created, modified, terminated or cancelled, with its validity."""

    topic: ClassVar[str] = topics.REFERENCE_INSTRUMENTS
    event_type: ClassVar[str] = "instrument.recorded"

    change: Literal["created", "modified", "terminated", "cancelled"]
    isin: str
    mic: str | None = None
    name: str | None = None
    cfi: str | None = None
    currency: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    other_ids: dict[str, str] = Field(default_factory=dict)
    source_file: str | None = None


class HoldingLine(BaseModel):
    """One position: every usable identifier we know for it, and its size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifiers: dict[IdType, str]
    quantity: Decimal
    market_value: Decimal | None = None
    currency: str | None = None
    name: str | None = None


class HoldingsSnapshotChunk(Payload):
    """Chunk `chunk_index` (0-based) of `chunk_count` of one complete holdings snapshot.
    A consumer treats the snapshot as complete once it has every chunk of `snapshot_id`."""

    topic: ClassVar[str] = topics.REFERENCE_HOLDINGS
    event_type: ClassVar[str] = "holdings.snapshot_chunk"

    portfolio_id: str
    as_of: dt.date
    snapshot_id: uuid.UUID
    chunk_index: int = Field(ge=0)
    chunk_count: int = Field(ge=1)
    holdings: list[HoldingLine]

    @property
    def is_final(self) -> bool:
        return self.chunk_index == self.chunk_count - 1


class SecurityMapped(Payload):
    """A mapping result for one identifier: mapped, ticker changed, or not found."""

    topic: ClassVar[str] = topics.REFERENCE_SECURITIES
    event_type: ClassVar[str] = "security.mapped"

    status: Literal["mapped", "ticker_changed", "not_found"]
    id_type: IdType
    id_value: str
    figi: str | None = None
    composite_figi: str | None = None
    share_class_figi: str | None = None
    ticker: str | None = None
    previous_ticker: str | None = None
    exch_code: str | None = None
    name: str | None = None
    security_type: str | None = None
    security_type2: str | None = None
    market_sector: str | None = None
    listings: int = 0
