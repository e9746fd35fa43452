"""The indexer service process: keeps definitions, holdings, mappings and prices from
events, recomputes affected indexes, serves `GET /indexes/...`.
Run it with `python -m indexer.app`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from faststream.kafka import KafkaBroker

from indexer.adapters import repository
from indexer.domain.definition import IndexDefinition
from indexer.domain.risk import risk_metrics
from indexer.service import PRODUCER, recompute
from indexer.settings import IndexerSettings
from secmaster_common.db.engine import make_engine
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    BarsPublished,
    Envelope,
    HoldingsSnapshotChunk,
    IndexDefinitionPublished,
    SecurityMapped,
    topics,
)
from secmaster_common.kafka import PoisonMessage, make_broker, subscription
from secmaster_common.logging import configure_logging, get_logger
from secmaster_common.runtime import ServiceRuntime, serve
from secmaster_common.services import app_dsn

SERVICE = "indexer"
log = get_logger(__name__)


def register_handlers(
    broker: KafkaBroker, runtime: ServiceRuntime, settings: IndexerSettings
) -> None:
    def sub(topic: str) -> Any:
        name, opts = subscription(settings, service=SERVICE, topic=topic)
        return broker.subscriber(name, **opts)

    async def recompute_all(uow: UnitOfWork, index_ids: list[str] | None = None) -> None:
        ids = index_ids
        if ids is None:
            ids = [d["index_id"] for d in await repository.latest_definitions(uow.conn)]
        for index_id in ids:
            outcome = await recompute(uow=uow, index_id=index_id)
            log.info("index recomputed", **outcome.__dict__)

    @sub(topics.INDEXES_DEFINITIONS)
    async def on_definition(env: Envelope[IndexDefinitionPublished]) -> None:
        try:
            definition = IndexDefinition.model_validate(env.payload.definition)
        except ValueError as exc:
            raise PoisonMessage(f"invalid index definition {env.payload.index_id}: {exc}") from exc
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(
                consumer=SERVICE, event_id=env.event_id, topic=topics.INDEXES_DEFINITIONS
            ):
                return
            await repository.save_definition(
                uow.conn, definition.id, definition.model_dump(mode="json")
            )
            await recompute_all(uow, [definition.id])
            await uow.commit()
        _wake(runtime)

    @sub(topics.REFERENCE_HOLDINGS)
    async def on_holdings(env: Envelope[HoldingsSnapshotChunk]) -> None:
        p = env.payload
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(
                consumer=SERVICE, event_id=env.event_id, topic=topics.REFERENCE_HOLDINGS
            ):
                return
            await repository.save_holdings_chunk(
                uow.conn,
                snapshot_id=p.snapshot_id,
                chunk_index=p.chunk_index,
                chunk_count=p.chunk_count,
                portfolio_id=p.portfolio_id,
                as_of=p.as_of,
                holdings=[h.model_dump(mode="json") for h in p.holdings],
            )
            affected = (await repository.portfolios_of_definitions(uow.conn)).get(
                p.portfolio_id, []
            )
            await recompute_all(uow, affected)
            await uow.commit()
        _wake(runtime)

    @sub(topics.REFERENCE_SECURITIES)
    async def on_security(env: Envelope[SecurityMapped]) -> None:
        p = env.payload
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(
                consumer=SERVICE, event_id=env.event_id, topic=topics.REFERENCE_SECURITIES
            ):
                return
            await repository.save_security(
                uow.conn,
                id_type=p.id_type,
                id_value=p.id_value,
                ticker=p.ticker,
                figi=p.figi,
                status=p.status,
            )
            await uow.commit()

    @sub(topics.MARKET_BARS)
    async def on_bars(env: Envelope[BarsPublished]) -> None:
        p = env.payload
        if p.interval != "1d":
            return
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(
                consumer=SERVICE, event_id=env.event_id, topic=topics.MARKET_BARS
            ):
                return
            await repository.save_prices(
                uow.conn,
                [
                    {
                        "symbol": p.symbol,
                        "trading_date": b.date,
                        "close": b.close,
                        "adj_close": b.adj_close,
                        "provider": p.provider,
                    }
                    for b in p.bars
                    if b.date is not None
                ],
            )
            await recompute_all(uow)
            await uow.commit()
        _wake(runtime)


def _wake(runtime: ServiceRuntime) -> None:
    if runtime.relay is not None:
        runtime.relay.wake()


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter()

    @router.get("/indexes")
    async def list_indexes() -> list[dict[str, Any]]:
        async with runtime.engine.connect() as conn:
            return await repository.latest_definitions(conn)

    @router.get("/indexes/{index_id}/levels")
    async def get_levels(
        index_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            rows = await repository.levels(conn, index_id, start, end)
        if not rows:
            raise HTTPException(status_code=404, detail=f"no levels for index {index_id!r} yet")
        return {
            "index_id": index_id,
            "version": rows[0]["version"],
            "levels": [
                {
                    "date": r["trading_date"].isoformat(),
                    "level": r["level"],
                    "divisor": r["divisor"],
                    "constituents": r["constituents"],
                    "stale_prices": r["stale_prices"],
                }
                for r in rows
            ],
        }

    @router.get("/indexes/{index_id}/risk")
    async def get_risk(index_id: str) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            rows = await repository.levels(conn, index_id, None, None)
        if len(rows) < 3:
            raise HTTPException(status_code=404, detail=f"not enough levels for index {index_id!r}")
        levels = [r["level"] for r in rows]
        returns = [b / a - 1.0 for a, b in zip(levels, levels[1:], strict=False)]
        return {"index_id": index_id, "metrics": risk_metrics(returns)}

    return router


def bootstrap(settings: IndexerSettings | None = None) -> FastAPI:
    settings = settings or IndexerSettings()
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    dsn = app_dsn(
        settings.indexer_database_url.get_secret_value() if settings.indexer_database_url else None,
        settings.database_url.get_secret_value(),
        SERVICE,
    )
    broker = make_broker(settings, client_id=SERVICE)
    runtime = ServiceRuntime(
        name=SERVICE,
        settings=settings,
        engine=make_engine(dsn, schema=SERVICE),
        broker=broker,
        topic_prefix=settings.topic_prefix,
    )
    register_handlers(broker, runtime, settings)
    return runtime.build_http(build_router(runtime))


def main() -> None:
    settings = IndexerSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.indexer_http_port)


if __name__ == "__main__":
    main()
