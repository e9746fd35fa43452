"""Contracts of the enrichment command topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from secmaster_common.events import topics
from secmaster_common.events.envelope import Payload
from secmaster_common.events.reference import IdType


class IdentifierRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id_type: IdType
    id_value: str
    exch_code: str | None = None
    mic_code: str | None = None
    currency: str | None = None


class EnrichmentRequested(Payload):
    """Identifiers an outside producer wants mapped now."""

    topic: ClassVar[str] = topics.ENRICHMENT_REQUESTS
    event_type: ClassVar[str] = "enrichment.requested"

    identifiers: list[IdentifierRef] = Field(min_length=1)
