"""The indexer service process: keeps definitions, holdings, mappings, prices and
fundamentals from events, queues the indexes they affect, recomputes queued indexes in a
background worker, and serves `GET /indexes/...`. Run it with `python -m indexer.app`."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Response
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from indexer import service
from indexer.adapters import repository
from indexer.chart import ChartSeries, rebased, render_svg
from indexer.domain.definition import IndexDefinition
from indexer.service import PRODUCER, recompute_pending
from indexer.settings import IndexerSettings
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    BarsPublished,
    Envelope,
    FundamentalsObserved,
    HoldingsSnapshotChunk,
    IndexDefinitionPublished,
    SecurityMapped,
    topics,
)
from secmaster_common.kafka import PoisonMessage, subscription
from secmaster_common.logging import get_logger
from secmaster_common.runtime import ServiceRuntime, serve

SERVICE = "indexer"
log = get_logger(__name__)


def register_handlers(
    broker: KafkaBroker, runtime: ServiceRuntime, settings: IndexerSettings, wake: asyncio.Event
) -> None:
    """Each handler stores its input and queues the affected indexes in one transaction
    with its inbox claim; the recompute worker (woken by `wake`) does the computing."""

    def sub(topic: str) -> Any:
        name, opts = subscription(settings, service=SERVICE, topic=topic)
        return broker.subscriber(name, **opts)

    async def handle(
        env: Envelope[Any], topic: str, record: Callable[[UnitOfWork], Awaitable[list[str]]]
    ) -> None:
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(consumer=SERVICE, event_id=env.event_id, topic=topic):
                return
            queued = await record(uow)
            await uow.commit()
        if queued:
            wake.set()

    @sub(topics.INDEXES_DEFINITIONS)
    async def on_definition(env: Envelope[IndexDefinitionPublished]) -> None:
        try:
            definition = IndexDefinition.model_validate(env.payload.definition)
        except ValueError as exc:
            raise PoisonMessage(f"invalid index definition {env.payload.index_id}: {exc}") from exc

        async def record(uow: UnitOfWork) -> list[str]:
            stored = await service.store_definition(uow=uow, definition=definition)
            return [stored.index_id] if stored.created else []

        await handle(env, topics.INDEXES_DEFINITIONS, record)

    @sub(topics.REFERENCE_HOLDINGS)
    async def on_holdings(env: Envelope[HoldingsSnapshotChunk]) -> None:
        await handle(
            env,
            topics.REFERENCE_HOLDINGS,
            lambda uow: service.record_holdings_chunk(uow=uow, chunk=env.payload),
        )

    @sub(topics.REFERENCE_SECURITIES)
    async def on_security(env: Envelope[SecurityMapped]) -> None:
        await handle(
            env,
            topics.REFERENCE_SECURITIES,
            lambda uow: service.record_security(uow=uow, mapped=env.payload),
        )

    @sub(topics.MARKET_BARS)
    async def on_bars(env: Envelope[BarsPublished]) -> None:
        await handle(
            env, topics.MARKET_BARS, lambda uow: service.record_bars(uow=uow, bars=env.payload)
        )

    @sub(topics.MARKET_FUNDAMENTALS)
    async def on_fundamentals(env: Envelope[FundamentalsObserved]) -> None:
        await handle(
            env,
            topics.MARKET_FUNDAMENTALS,
            lambda uow: service.record_fundamentals(uow=uow, observed=env.payload),
        )


def recompute_worker(
    runtime: ServiceRuntime, settings: IndexerSettings, wake: asyncio.Event
) -> Callable[[], Awaitable[None]]:
    """The background job: recompute what is queued, then wait to be woken (or poll, for
    work queued by another replica, the CLI, or before a restart)."""

    async def run() -> None:
        while True:
            wake.clear()
            try:
                outcomes = await recompute_pending(engine=runtime.engine)
                if any(o.published_levels or o.published_rebalances for o in outcomes):
                    _wake(runtime)
            except Exception:
                log.exception("recompute round failed")
            try:
                await asyncio.wait_for(wake.wait(), timeout=settings.indexer_recompute_poll_s)
                # Bars arrive in bursts (one message per instrument): let the burst land so
                # an index is read and computed once for all of it.
                await asyncio.sleep(settings.indexer_recompute_debounce_s)
            except TimeoutError:
                pass

    return run


def _wake(runtime: ServiceRuntime) -> None:
    runtime.wake_relay()


async def _series(engine: AsyncEngine, index_id: str, **window: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await repository.levels(conn, index_id, window.get("start"), window.get("end"))


def _not_found(index_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"no levels for index {index_id!r} yet; GET /indexes lists the known indexes",
    )


def build_router(engine: AsyncEngine) -> APIRouter:
    router = APIRouter()

    @router.get("/indexes")
    async def list_indexes() -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            return await repository.index_summaries(conn)

    @router.get("/indexes/{index_id}/levels")
    async def get_levels(
        index_id: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        async with engine.connect() as conn:
            rows = await repository.levels(conn, index_id, start, end, version)
        if not rows:
            raise _not_found(index_id)
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
    async def get_risk(index_id: str, benchmark: str | None = None) -> dict[str, Any]:
        own = await _series(engine, index_id)
        if not own:
            raise _not_found(index_id)
        theirs = None
        if benchmark is not None:
            theirs = await _series(engine, benchmark)
            if not theirs:
                raise _not_found(benchmark)
        try:
            report = service.index_risk(
                [(r["trading_date"], r["level"]) for r in own],
                None if theirs is None else [(r["trading_date"], r["level"]) for r in theirs],
            )
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"index_id": index_id, "benchmark": benchmark, **report}

    @router.get("/indexes/{index_id}/chart")
    async def get_chart(
        index_id: str,
        benchmark: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> Response:
        """An SVG line chart of the index, against `benchmark` when given (both rebased to
        100 on the first date they share)."""
        own = await _series(engine, index_id, start=start, end=end)
        if not own:
            raise _not_found(index_id)
        drawn = [
            ChartSeries(
                f"{index_id} v{own[0]['version']}",
                [r["trading_date"] for r in own],
                [r["level"] for r in own],
            )
        ]
        y_label = "level"
        if benchmark is not None:
            theirs = await _series(engine, benchmark, start=start, end=end)
            if not theirs:
                raise _not_found(benchmark)
            other = ChartSeries(
                f"{benchmark} v{theirs[0]['version']}",
                [r["trading_date"] for r in theirs],
                [r["level"] for r in theirs],
            )
            shared = sorted(set(drawn[0].dates) & set(other.dates))
            if not shared:
                raise HTTPException(
                    status_code=422,
                    detail=f"{index_id} and {benchmark} have no level on a common date",
                )
            drawn = [rebased(drawn[0], shared[0]), rebased(other, shared[0])]
            y_label = f"level, rebased to 100 on {shared[0].isoformat()}"
        title = f"{index_id}" + (f" against {benchmark}" if benchmark else "")
        return Response(render_svg(drawn, title=title, y_label=y_label), media_type="image/svg+xml")

    @router.post("/indexes/{index_id}/backfill", status_code=202)
    async def post_backfill(
        index_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> dict[str, Any]:
        """Ask pricing for the members' history and recompute the index once it arrives."""
        async with UnitOfWork(engine, producer=PRODUCER) as uow:
            requested = await service.request_backfill(
                uow=uow, index_id=index_id, start=start, end=end
            )
            await uow.commit()
        if requested is None:
            raise HTTPException(status_code=404, detail=f"no definition of index {index_id!r}")
        return {
            "index_id": requested.index_id,
            "symbols": requested.symbols,
            "start": requested.start.isoformat(),
            "end": requested.end.isoformat(),
        }

    return router


def bootstrap(settings: IndexerSettings | None = None) -> FastAPI:
    settings = settings or IndexerSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    wake = asyncio.Event()
    register_handlers(runtime.broker, runtime, settings, wake)
    runtime.background.append(recompute_worker(runtime, settings, wake))
    return runtime.build_http(build_router(runtime.engine))


def main() -> None:
    settings = IndexerSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.indexer_http_port)


if __name__ == "__main__":
    main()
