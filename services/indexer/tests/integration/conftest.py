"""Fixtures over a real Postgres: the indexer engine as its app role, event factories, and
readers of what the service stored and put in its outbox."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from indexer import service
from indexer.domain.definition import IndexDefinition
from secmaster_common.db.engine import make_engine
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    Bar,
    BarsPublished,
    FundamentalsObserved,
    HoldingLine,
    HoldingsSnapshotChunk,
    SecurityMapped,
)
from secmaster_common.services import service_role_dsn

_R = TypeVar("_R")

# Twenty business days of January 2024 after New Year's Day.
DAYS = [d.astype(dt.date) for d in np.arange("2024-01-02", "2024-02-01", dtype="datetime64[D]")]
DAYS = [d for d in DAYS if d.weekday() < 5][:20]


def walk(seed: int, n: int = len(DAYS), start: float = 50.0) -> list[float]:
    """A reproducible geometric random walk of closes."""
    rng = np.random.default_rng(seed)
    return [float(v) for v in start * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))]


def bars(symbol: str, days: Sequence[dt.date], closes: Sequence[float]) -> BarsPublished:
    return BarsPublished(
        instrument_id=symbol,
        symbol=symbol,
        provider="test",
        bars=[
            Bar(date=d, open=c, high=c, low=c, close=c, adj_close=c, volume=1000.0)
            for d, c in zip(days, closes, strict=True)
        ],
    )


def definition(index_id: str, **fields: Any) -> IndexDefinition:
    document: dict[str, Any] = {
        "id": index_id,
        "name": f"{index_id} test index",
        "base_date": DAYS[0],
        "base_value": 100.0,
        "weighting": "equal",
        "rebalance": "never",
    }
    document.update(fields)
    return IndexDefinition.model_validate(document)


def fundamentals(
    symbol: str, as_of: dt.date, *, shares: float | None = None, market_cap: float | None = None
) -> FundamentalsObserved:
    return FundamentalsObserved(
        instrument_id=symbol,
        symbol=symbol,
        as_of=as_of,
        shares_outstanding=shares,
        market_cap=market_cap,
        source="test",
    )


def holdings_chunk(
    portfolio: str, as_of: dt.date, lines: dict[str, float]
) -> HoldingsSnapshotChunk:
    """A one-chunk snapshot; `lines` maps CUSIP -> quantity."""
    return HoldingsSnapshotChunk.model_validate(
        {
            "snapshot_id": uuid.uuid4(),
            "portfolio_id": portfolio,
            "as_of": as_of,
            "chunk_index": 0,
            "chunk_count": 1,
            "holdings": [
                HoldingLine.model_validate(
                    {"identifiers": {"CUSIP": cusip}, "name": cusip, "quantity": qty}
                ).model_dump(mode="json")
                for cusip, qty in lines.items()
            ],
        }
    )


def mapping(cusip: str, ticker: str) -> SecurityMapped:
    return SecurityMapped.model_validate(
        {"id_type": "CUSIP", "id_value": cusip, "status": "mapped", "ticker": ticker}
    )


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """The indexer's engine on a fresh database, connected as its app role."""
    eng = make_engine(service_role_dsn(fresh_database, "indexer", "app"), schema="indexer")
    try:
        yield eng
    finally:
        await eng.dispose()


@dataclass
class Indexer:
    """The service's use cases, each run in its own committed unit of work."""

    engine: AsyncEngine

    async def _committed(self, use_case: Callable[..., Awaitable[_R]], **kwargs: Any) -> _R:
        async with UnitOfWork(self.engine, producer=service.PRODUCER) as uow:
            result = await use_case(uow=uow, **kwargs)
            await uow.commit()
        return result

    async def define(self, definition: IndexDefinition) -> service.DefinitionStored:
        return await self._committed(service.store_definition, definition=definition)

    async def bars(self, batch: BarsPublished) -> list[str]:
        return await self._committed(service.record_bars, bars=batch)

    async def fundamentals(self, observed: FundamentalsObserved) -> list[str]:
        return await self._committed(service.record_fundamentals, observed=observed)

    async def holdings(self, chunk: HoldingsSnapshotChunk) -> list[str]:
        return await self._committed(service.record_holdings_chunk, chunk=chunk)

    async def security(self, mapped: SecurityMapped) -> list[str]:
        return await self._committed(service.record_security, mapped=mapped)

    async def run_queue(self) -> list[service.RecomputeOutcome]:
        return await service.recompute_pending(engine=self.engine)

    async def queued(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT index_id FROM pending_recomputes ORDER BY index_id")
            )
            return [r.index_id for r in rows]

    async def outbox(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Envelopes written to the outbox, oldest first, with their topic under `_topic`."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT topic, key, value FROM outbox "
                    "WHERE CAST(:t AS text) IS NULL OR topic = :t ORDER BY id"
                ),
                {"t": topic},
            )
            return [{**json.loads(bytes(r.value)), "_topic": r.topic, "_key": r.key} for r in rows]

    async def levels(self, index_id: str, version: int) -> dict[dt.date, float]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT trading_date, level FROM index_levels "
                    "WHERE index_id = :i AND version = :v ORDER BY trading_date"
                ),
                {"i": index_id, "v": version},
            )
            return {r.trading_date: float(r.level) for r in rows}


@pytest.fixture
def indexer(engine: AsyncEngine) -> Indexer:
    return Indexer(engine)
