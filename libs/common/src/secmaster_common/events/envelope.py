"""The event envelope every topic carries, and its mirror in Kafka headers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_CORRELATION_ID = "correlation_id"
HEADER_PRODUCER = "producer"
HEADER_SCHEMA_VERSION = "schema_version"


class Payload(BaseModel):
    """Base of every event payload: the topic it travels on and the event type it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: ClassVar[str]
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """What goes on the wire: metadata plus one payload. Idempotency keys on `event_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    event_type: str
    occurred_at: AwareDatetime
    producer: str
    correlation_id: str
    schema_version: int = Field(1, ge=1)
    payload: P

    def headers(self) -> dict[str, str]:
        return {
            HEADER_EVENT_ID: str(self.event_id),
            **shared_headers(
                event_type=self.event_type,
                correlation_id=self.correlation_id,
                producer=self.producer,
                schema_version=self.schema_version,
            ),
        }


def shared_headers(
    *, event_type: str, correlation_id: str, producer: str, schema_version: int
) -> dict[str, str]:
    """The Kafka headers of an event but its id: what the events of one framed outbox row
    share (see db/frames.py)."""
    return {
        HEADER_EVENT_TYPE: event_type,
        HEADER_CORRELATION_ID: correlation_id,
        HEADER_PRODUCER: producer,
        HEADER_SCHEMA_VERSION: str(schema_version),
    }


def new_envelope(
    payload: P,
    *,
    producer: str,
    correlation_id: str | None = None,
    event_id: uuid.UUID | None = None,
    event_type: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[P]:
    """Wrap a payload; a fresh event id, now (UTC), and a correlation id that defaults to
    the event id (the start of a new causal chain)."""
    eid = event_id or uuid.uuid4()
    # Parametrise with the payload's own class so validation and JSON keep its fields.
    model: Any = Envelope.__class_getitem__(type(payload))
    env: Envelope[P] = model(
        event_id=eid,
        event_type=event_type or payload.event_type,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id or str(eid),
        schema_version=payload.schema_version,
        payload=payload,
    )
    return env


def envelope_json(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode()
