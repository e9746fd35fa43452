"""Unit of work: one transaction holding a service's state change, its outbox rows and
its inbox claim, committed together or not at all."""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secmaster_common.db.tables import inbox, outbox
from secmaster_common.events.envelope import (
    Envelope,
    Payload,
    envelope_json,
    new_envelope,
    shared_headers,
)
from secmaster_common.telemetry import trace_headers

COPY_THRESHOLD = 64


class UnitOfWork:
    """`async with UnitOfWork(engine, producer=...) as uow:` ... `await uow.commit()`.

    Leaving the block without `commit()` rolls back, as does an exception.
    """

    def __init__(self, engine: AsyncEngine, *, producer: str) -> None:
        self.engine = engine
        self.producer = producer
        self._conn: AsyncConnection | None = None
        self._committed = False
        self.published: list[Envelope[Any]] = []
        self.trace: dict[str, str] = {}

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside its `async with` block")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self.engine.connect()
        await self._conn.begin()
        self._committed = False
        self.published = []
        # The trace context cannot change inside one unit of work: read it once.
        self.trace = trace_headers()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self.conn
        try:
            if not self._committed:
                await conn.rollback()
        finally:
            await conn.close()
            self._conn = None

    async def commit(self) -> None:
        await self.conn.commit()
        self._committed = True

    async def claim(self, *, consumer: str, event_id: uuid.UUID, topic: str) -> bool:
        """Record that `consumer` handles `event_id` in this transaction. False when it
        already did: the caller must then do nothing (the event is a redelivery)."""
        result = await self.conn.execute(
            pg_insert(inbox)
            .values(consumer=consumer, event_id=event_id, topic=topic)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return result.first() is not None

    async def publish(
        self,
        payload: Payload,
        *,
        key: str | None,
        correlation_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope[Any]:
        """Write an event to the outbox in this transaction; the relay sends it after commit."""
        env = new_envelope(
            payload, producer=self.producer, correlation_id=correlation_id, event_id=event_id
        )
        await self.add_outbox_rows([outbox_row(env, key=key, trace=self.trace)])
        self.published.append(env)
        return env

    async def add_outbox_rows(self, rows: list[dict[str, Any]]) -> None:
        """Insert outbox rows; large batches go through COPY (several times faster than a
        multi-row INSERT for the 10k-row batches a big file produces)."""
        if not rows:
            return
        if len(rows) < COPY_THRESHOLD:
            await self.conn.execute(sa.insert(outbox), rows)
            return
        raw = await self.conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            "outbox",
            records=[
                (r["event_id"], r["topic"], r["key"], json.dumps(r["headers"]), r["value"])
                for r in rows
            ],
            columns=["event_id", "topic", "key", "headers", "value"],
        )

    def framed_headers(
        self, *, event_type: str, correlation_id: str, schema_version: int = 1
    ) -> dict[str, str]:
        """The Kafka headers the events of one framed row share (all but their ids)."""
        return {
            **shared_headers(
                event_type=event_type,
                correlation_id=correlation_id,
                producer=self.producer,
                schema_version=schema_version,
            ),
            **self.trace,
        }

    async def add_framed_events(
        self,
        frames: bytes,
        *,
        count: int,
        topic: str,
        event_type: str,
        correlation_id: str,
        schema_version: int = 1,
    ) -> None:
        """Write `count` events of one topic, framed (frames.py: FrameWriter or
        BatchedFrameWriter, here or in another process), as one outbox row: their envelopes
        were built by the caller with the same type, producer and correlation id, and a
        BatchedFrameWriter was given `framed_headers` of the same; the relay sends each as
        its own Kafka record with its own key and event id."""
        if not count:
            return
        headers = self.framed_headers(
            event_type=event_type, correlation_id=correlation_id, schema_version=schema_version
        )
        await self.conn.execute(
            sa.insert(outbox).values(
                event_id=uuid.uuid4(),
                topic=topic,
                key=None,
                headers=headers,
                value=frames,
                framed_events=count,
            )
        )


def outbox_row(
    env: Envelope[Any],
    *,
    key: str | None,
    topic: str | None = None,
    trace: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The outbox row for an envelope (for bulk inserts); pass the unit of work's `trace`
    when writing many rows, else the current trace context is read per row."""
    return {
        "event_id": env.event_id,
        "topic": topic or type(env.payload).topic,
        "key": key,
        "headers": {**env.headers(), **(trace if trace is not None else trace_headers())},
        "value": envelope_json(env),
    }
