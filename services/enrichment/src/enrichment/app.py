"""The enrichment service process: consumes instruments, holdings and ad-hoc requests,
drains the durable mapping queue through OpenFIGI, serves `GET /securities/...`.
Run it with `python -m enrichment.app`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient, OpenFigiConfigurationError
from enrichment.service import (
    PRODUCER,
    CachePolicy,
    cache_id_type,
    drain_queue_once,
    preferred_identifier,
    request_mappings,
)
from enrichment.settings import EnrichmentSettings
from enrichment.wiring import SERVICE, build_client, cache_policy
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    EnrichmentRequested,
    Envelope,
    HoldingsSnapshotChunk,
    InstrumentRecorded,
    topics,
)
from secmaster_common.kafka import subscription
from secmaster_common.logging import get_logger
from secmaster_common.runtime import ServiceRuntime, serve

log = get_logger(__name__)


def register_handlers(
    broker: KafkaBroker, runtime: ServiceRuntime, settings: EnrichmentSettings, wake: asyncio.Event
) -> None:
    def sub(topic: str) -> Any:
        name, opts = subscription(settings, service=SERVICE, topic=topic)
        return broker.subscriber(name, **opts)

    policy = cache_policy(settings)

    async def handle(
        env: Envelope[Any], topic: str, refs: list[tuple[str, str, dict[str, object]]]
    ) -> None:
        async with UnitOfWork(runtime.engine, producer=PRODUCER) as uow:
            if not await uow.claim(consumer=SERVICE, event_id=env.event_id, topic=topic):
                return
            counts = await request_mappings(
                uow=uow,
                refs=refs,
                correlation_id=env.correlation_id,
                policy=policy,
                now=dt.datetime.now(dt.UTC),
            )
            await uow.commit()
        log.info("identifiers requested", topic=topic, **counts)
        wake.set()

    @sub(topics.REFERENCE_HOLDINGS)
    async def on_holdings(env: Envelope[HoldingsSnapshotChunk]) -> None:
        refs: list[tuple[str, str, dict[str, object]]] = []
        for line in env.payload.holdings:
            chosen = preferred_identifier({str(k): v for k, v in line.identifiers.items()})
            if chosen is not None:
                refs.append((chosen[0], chosen[1], {}))
        await handle(env, topics.REFERENCE_HOLDINGS, refs)

    @sub(topics.REFERENCE_INSTRUMENTS)
    async def on_instrument(env: Envelope[InstrumentRecorded]) -> None:
        if env.payload.change in ("created", "modified"):
            await handle(env, topics.REFERENCE_INSTRUMENTS, [("ISIN", env.payload.isin, {})])
        else:
            await handle(env, topics.REFERENCE_INSTRUMENTS, [])

    @sub(topics.ENRICHMENT_REQUESTS)
    async def on_request(env: Envelope[EnrichmentRequested]) -> None:
        refs: list[tuple[str, str, dict[str, object]]] = []
        for ref in env.payload.identifiers:
            filters: dict[str, object] = {}
            if ref.exch_code:
                filters["exchCode"] = ref.exch_code
            if ref.mic_code:
                filters["micCode"] = ref.mic_code
            if ref.currency:
                filters["currency"] = ref.currency
            refs.append((ref.id_type, ref.id_value, filters))
        await handle(env, topics.ENRICHMENT_REQUESTS, refs)


async def mapping_worker(
    runtime: ServiceRuntime,
    client: OpenFigiClient,
    settings: EnrichmentSettings,
    wake: asyncio.Event,
) -> None:
    """Drain the durable queue forever; wakes early when a handler queued something."""
    limit = client.batch_size * 4
    while True:
        try:
            n = await drain_queue_once(
                engine=runtime.engine,
                client=client,
                limit=limit,
                lease_s=settings.enrichment_queue_lease_s,
            )
        except OpenFigiConfigurationError as exc:
            log.error("OpenFIGI configuration error; mapping paused", error=str(exc))
            n = 0
            await asyncio.sleep(60)
        except Exception as exc:
            log.warning("mapping worker round failed", error=repr(exc))
            n = 0
        if n:
            runtime.wake_relay()
        if n == 0:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout=1.0)
            except TimeoutError:
                pass


def build_router(engine: AsyncEngine, policy: CachePolicy) -> APIRouter:
    router = APIRouter()

    @router.get("/securities/{id_type}/{value}")
    async def get_security(
        id_type: str, value: str, as_of: dt.date | None = None
    ) -> dict[str, Any]:
        """The mapping valid on `as_of` (default: the current one); `id_type` is ISIN,
        CUSIP, SEDOL, FIGI, TICKER or another OpenFIGI idType."""
        kind = cache_id_type(id_type.upper())
        async with engine.connect() as conn:
            row = await cache.as_of(conn, id_type=kind, id_value=value, day=as_of)
        if row is None:
            when = f" on {as_of.isoformat()}" if as_of else ""
            raise HTTPException(status_code=404, detail=f"no mapping for {kind} {value}{when}")
        out = {k: getattr(row, k) for k in row.__dataclass_fields__}
        out["status"] = "not_found" if row.has_no_results else "mapped"
        return out

    @router.get("/cache/stats")
    async def get_stats() -> dict[str, int]:
        async with engine.connect() as conn:
            return await cache.stats(
                conn, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl
            )

    return router


def bootstrap(settings: EnrichmentSettings | None = None) -> FastAPI:
    settings = settings or EnrichmentSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    wake = asyncio.Event()
    register_handlers(runtime.broker, runtime, settings, wake)
    client = build_client(settings, runtime.engine)
    runtime.background.append(lambda: mapping_worker(runtime, client, settings, wake))
    return runtime.build_http(build_router(runtime.engine, cache_policy(settings)))


def main() -> None:
    settings = EnrichmentSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.enrichment_http_port)


if __name__ == "__main__":
    main()
