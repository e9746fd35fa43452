"""Use cases of the pricing service: track the universe from mapping events, fetch the
missing range through the provider chain, validate, store in bulk and publish bars."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from secmaster_common.db.tables import inbox
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Bar, BarsPublished
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from pricing.domain.bars import FetchResult, Interval
from pricing.domain.chain import ChainResult, ProviderChain
from pricing.domain.validation import SeriesQuality, validate_series

PRODUCER = "pricing"


@dataclass(frozen=True)
class RefreshOutcome:
    instrument_id: str
    symbol: str
    stored: int
    rejected: int
    provider: str | None
    attempts: tuple[str, ...]


def validator(result: FetchResult) -> SeriesQuality:
    return validate_series(result.bars)


async def already_handled(engine: AsyncEngine, *, consumer: str, event_id: uuid.UUID) -> bool:
    """A cheap look at the inbox before slow work (the claim in the unit of work decides)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.literal(1)).where(
                inbox.c.consumer == consumer, inbox.c.event_id == event_id
            )
        )
    return found is not None


async def refresh_instrument(
    *,
    engine: AsyncEngine,
    chain: ProviderChain,
    instrument_id: str,
    symbol: str,
    figi: str | None,
    start: dt.date,
    end: dt.date,
    correlation_id: str | None,
    claim: tuple[str, uuid.UUID, str] | None = None,
    universe_entry: dict[str, str | None] | None = None,
) -> RefreshOutcome:
    """Fetch [start, end] for one instrument (only what is missing), store accepted bars,
    quarantine rejected ones, publish one `market.bars.v1` batch; one transaction, which
    also holds the inbox claim of the triggering event when there is one."""
    async with engine.connect() as conn:
        last = await store.last_bar_date(conn, instrument_id)
    fetch_from = max(start, last + dt.timedelta(days=1)) if last else start
    result: ChainResult | None = None
    if fetch_from <= end:
        result = await chain.fetch(symbol=symbol, start=fetch_from, end=end, interval=Interval.D1)
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        if claim is not None:
            consumer, event_id, topic = claim
            if not await uow.claim(consumer=consumer, event_id=event_id, topic=topic):
                return RefreshOutcome(instrument_id, symbol, 0, 0, None, ())
        if universe_entry is not None:
            await store.upsert_universe(
                uow.conn, instrument_id=instrument_id, symbol=symbol, **universe_entry
            )  # type: ignore[arg-type]
        stored = rejected = 0
        provider = None
        if result is not None and result.ok and result.result is not None:
            quality = result.quality or validator(result.result)
            provider = result.provider
            accepted = list(quality.accepted)
            stored = await store.copy_daily_bars(uow.conn, instrument_id, accepted)
            await store.quarantine(uow.conn, instrument_id, quality.rejected)
            await store.save_actions(uow.conn, instrument_id, result.result.actions, provider or "")
            rejected = len(quality.rejected)
            if accepted:
                await uow.publish(
                    BarsPublished(
                        instrument_id=instrument_id,
                        symbol=symbol,
                        figi=figi,
                        interval="1d",
                        provider=provider or "",
                        bars=[
                            Bar(
                                date=b.trading_date,
                                open=b.open,
                                high=b.high,
                                low=b.low,
                                close=b.close,
                                adj_close=b.adj_close,
                                volume=b.volume,
                            )
                            for b in accepted
                        ],
                    ),
                    key=instrument_id,
                    correlation_id=correlation_id,
                )
        await uow.commit()
    attempts = tuple(f"{a.provider}:{a.outcome}" for a in result.attempts) if result else ()
    return RefreshOutcome(instrument_id, symbol, stored, rejected, provider, attempts)
