"""The pricing service process: tracks the universe from `reference.securities.v1`,
refreshes bars on `pricing.refresh.requested.v1`, serves `GET /bars/{symbol}`.
Run it with `python -m pricing.app`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException
from faststream.kafka import KafkaBroker
from secmaster_common.db.engine import make_engine
from secmaster_common.events import Envelope, RefreshPrices, SecurityMapped, topics
from secmaster_common.kafka import make_broker, subscription
from secmaster_common.logging import configure_logging, get_logger
from secmaster_common.runtime import ServiceRuntime, serve
from secmaster_common.services import app_dsn

from pricing.adapters import store
from pricing.adapters.providers import build_provider
from pricing.domain.chain import ProviderChain
from pricing.service import already_handled, refresh_instrument, validator
from pricing.settings import PricingSettings

SERVICE = "pricing"
log = get_logger(__name__)


def build_chain(settings: PricingSettings, http: httpx.AsyncClient) -> ProviderChain:
    providers = []
    for name in [p.strip() for p in settings.pricing_providers.split(",") if p.strip()]:
        key = settings.pricing_api_keys.get(name)
        providers.append(
            build_provider(
                name,
                client=http,
                base_url=settings.pricing_base_urls.get(name),
                api_key=key.get_secret_value() if key else None,
            )
        )
    return ProviderChain(
        providers,
        validate=validator,
        min_quality=settings.pricing_min_quality,
        reorder_by_health=True,
    )


def history_range(settings: PricingSettings) -> tuple[dt.date, dt.date]:
    end = settings.pricing_history_end or dt.date.today()
    start = settings.pricing_history_start or end - dt.timedelta(days=settings.pricing_history_days)
    return start, end


def register_handlers(
    broker: KafkaBroker, runtime: ServiceRuntime, settings: PricingSettings, chain: ProviderChain
) -> None:
    def sub(topic: str) -> Any:
        name, opts = subscription(settings, service=SERVICE, topic=topic)
        return broker.subscriber(name, **opts)

    @sub(topics.REFERENCE_SECURITIES)
    async def on_security(env: Envelope[SecurityMapped]) -> None:
        p = env.payload
        if p.status == "not_found" or not p.ticker:
            return
        if await already_handled(runtime.engine, consumer=SERVICE, event_id=env.event_id):
            return
        start, end = history_range(settings)
        outcome = await refresh_instrument(
            engine=runtime.engine,
            chain=chain,
            instrument_id=p.composite_figi or p.figi or p.ticker,
            symbol=p.ticker,
            figi=p.composite_figi or p.figi,
            start=start,
            end=end,
            correlation_id=env.correlation_id,
            claim=(SERVICE, env.event_id, topics.REFERENCE_SECURITIES),
            universe_entry={
                "figi": p.figi,
                "id_type": p.id_type,
                "id_value": p.id_value,
                "exch_code": p.exch_code,
            },
        )
        log.info("instrument refreshed", **outcome.__dict__)
        if runtime.relay is not None:
            runtime.relay.wake()

    @sub(topics.PRICING_REFRESH_REQUESTED)
    async def on_refresh(env: Envelope[RefreshPrices]) -> None:
        if await already_handled(runtime.engine, consumer=SERVICE, event_id=env.event_id):
            return
        async with runtime.engine.connect() as conn:
            members = await store.universe(conn, env.payload.symbols)
        for i, member in enumerate(members):
            await refresh_instrument(
                engine=runtime.engine,
                chain=chain,
                instrument_id=member["instrument_id"],
                symbol=member["symbol"],
                figi=member["figi"],
                start=env.payload.start,
                end=env.payload.end,
                correlation_id=env.correlation_id,
                # The claim rides on the last instrument's transaction: a crash before it
                # redoes the refresh, which only fetches what is still missing.
                claim=(SERVICE, env.event_id, topics.PRICING_REFRESH_REQUESTED)
                if i == len(members) - 1
                else None,
            )
        if runtime.relay is not None:
            runtime.relay.wake()


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter()

    @router.get("/bars/{symbol}")
    async def get_bars(
        symbol: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            rows = await store.daily_bars(conn, symbol, start, end)
        if not rows:
            raise HTTPException(status_code=404, detail=f"no bars stored for {symbol}")
        return {
            "symbol": symbol,
            "bars": [{**r, "trading_date": r["trading_date"].isoformat()} for r in rows],
        }

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            return await store.stats(conn)

    return router


def bootstrap(settings: PricingSettings | None = None) -> FastAPI:
    settings = settings or PricingSettings()
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    dsn = app_dsn(
        settings.pricing_database_url.get_secret_value() if settings.pricing_database_url else None,
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
    http = httpx.AsyncClient(timeout=30.0)
    chain = build_chain(settings, http)
    register_handlers(broker, runtime, settings, chain)
    return runtime.build_http(build_router(runtime))


def main() -> None:
    settings = PricingSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.pricing_http_port)


if __name__ == "__main__":
    main()
