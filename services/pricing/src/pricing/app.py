"""The pricing service process: tracks the universe from `reference.securities.v1`,
refreshes bars on `pricing.refresh.requested.v1`, serves `GET /bars/{symbol}`.
Run it with `python -m pricing.app`."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from faststream.kafka import KafkaBroker

from pricing.adapters import store
from pricing.composition import build_chains, build_fundamentals, history_range, names
from pricing.documents import action_json, bar_json
from pricing.domain.adjustment import MixedBasis
from pricing.domain.asset_classes import ProviderChains, calendar_code_for_class
from pricing.domain.bars import Interval
from pricing.domain.calendars import calendar_code_for, session_calendar
from pricing.domain.schedule import next_refresh
from pricing.intraday import INTRADAY_INTERVALS, read_intraday_bars
from pricing.refresh import refresh_members
from pricing.service import (
    FundamentalsPlan,
    already_handled,
    read_bars,
    refresh_fundamentals,
    refresh_instrument,
)
from pricing.settings import PricingSettings
from secmaster_common.events import Envelope, RefreshPrices, SecurityMapped, topics
from secmaster_common.http import instrumented_client
from secmaster_common.kafka import subscription
from secmaster_common.logging import get_logger
from secmaster_common.runtime import ServiceRuntime, serve

SERVICE = "pricing"
log = get_logger(__name__)


def register_handlers(
    broker: KafkaBroker,
    runtime: ServiceRuntime,
    settings: PricingSettings,
    chains: ProviderChains,
    fundamentals: FundamentalsPlan,
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
        asset_class, chain = chains.for_instrument(
            market_sector=p.market_sector, security_type=p.security_type
        )
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
                "market_sector": p.market_sector,
                "security_type": p.security_type,
            },
            calendar_code=calendar_code_for_class(asset_class, figi_exchange=p.exch_code),
            asset_class=asset_class.value,
        )
        log.info("instrument refreshed", **outcome.__dict__)
        if fundamentals.sources:
            await refresh_fundamentals(
                engine=runtime.engine,
                sources=fundamentals.sources,
                instrument_id=outcome.instrument_id,
                symbol=p.ticker,
                ttl=fundamentals.ttl,
                now=dt.datetime.now(dt.UTC),
                correlation_id=env.correlation_id,
            )
        runtime.wake_relay()

    @sub(topics.PRICING_REFRESH_REQUESTED)
    async def on_refresh(env: Envelope[RefreshPrices]) -> None:
        if await already_handled(runtime.engine, consumer=SERVICE, event_id=env.event_id):
            return
        async with runtime.engine.connect() as conn:
            members = await store.universe(conn, env.payload.symbols)
        await refresh_members(
            engine=runtime.engine,
            chains=chains,
            members=members,
            start=env.payload.start,
            end=env.payload.end,
            correlation_id=env.correlation_id,
            interval=Interval(env.payload.interval),
            fundamentals=fundamentals,
            claim=(SERVICE, env.event_id, topics.PRICING_REFRESH_REQUESTED),
        )
        runtime.wake_relay()


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter()

    @router.get("/bars/{symbol}")
    async def get_bars(
        symbol: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        adjusted: bool = False,
        interval: str = "1d",
    ) -> dict[str, Any]:
        """Daily bars as stored, in the basis their provider returned (`basis`: raw,
        split, split_dividend, or mixed, and each bar's own; prices as traded cannot be
        rebuilt from split-adjusted bars, and `note` says so), or (`adjusted=true`) split
        and dividend adjusted on read, applying only what the stored basis lacks (409
        when the stored series mixes bases); with `interval` 1m, 5m, 15m or 1h, the
        stored intraday bars (`ts`, UTC start) on exchange dates start..end."""
        if interval != "1d":
            return await intraday_document(symbol, interval, start, end, adjusted)
        try:
            view = await read_bars(
                engine=runtime.engine, symbol=symbol, start=start, end=end, adjusted=adjusted
            )
        except MixedBasis as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if view is None or not view.bars:
            raise HTTPException(status_code=404, detail=f"no bars stored for {symbol}")
        document: dict[str, Any] = {
            "symbol": view.symbol,
            "instrument_id": view.instrument_id,
            "adjusted": view.adjusted,
            "basis": view.basis,
            "bars": [
                {**bar_json(b), "provider": b.provider, "basis": basis.value}
                for b, basis in zip(view.bars, view.bases, strict=True)
            ],
            "actions": [action_json(a) for a in view.actions],
        }
        if view.note is not None:
            document["note"] = view.note
        return document

    async def intraday_document(
        symbol: str, interval: str, start: dt.date | None, end: dt.date | None, adjusted: bool
    ) -> dict[str, Any]:
        choices = ", ".join(["1d", *(i.value for i in INTRADAY_INTERVALS)])
        if interval not in {i.value for i in INTRADAY_INTERVALS}:
            raise HTTPException(
                status_code=422, detail=f"unknown interval {interval!r}; choose one of {choices}"
            )
        if adjusted:
            raise HTTPException(
                status_code=422, detail="adjusted=true is served for interval=1d only"
            )
        view = await read_intraday_bars(
            engine=runtime.engine, symbol=symbol, interval=Interval(interval), start=start, end=end
        )
        if view is None or not view.bars:
            raise HTTPException(status_code=404, detail=f"no {interval} bars stored for {symbol}")
        return {
            "symbol": view.symbol,
            "instrument_id": view.instrument_id,
            "interval": view.interval.value,
            "adjusted": False,
            "bars": [{**bar_json(b), "provider": b.provider} for b in view.bars],
            "actions": [],
        }

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            return await store.stats(conn)

    return router


def scheduled_refresh(
    runtime: ServiceRuntime,
    settings: PricingSettings,
    chains: ProviderChains,
    fundamentals: FundamentalsPlan,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The background job: sleep until the next watched close + delay, then refresh that
    exchange's instruments over the last `lookback` days (only missing sessions are
    fetched, so a day already stored costs no provider call)."""
    calendars = [session_calendar(code) for code in names(settings.pricing_schedule_exchanges)]
    delay = dt.timedelta(minutes=settings.pricing_schedule_delay_minutes)

    async def run() -> None:
        while True:
            due = next_refresh(calendars, now=clock(), delay=delay)
            if due is None:
                await asyncio.sleep(3600)
                continue
            await asyncio.sleep(max(0.0, (due.at - clock()).total_seconds()))
            end = min(due.session, settings.pricing_history_end or due.session)
            start = end - dt.timedelta(days=settings.pricing_schedule_lookback_days)
            try:
                async with runtime.engine.connect() as conn:
                    members = [
                        m
                        for m in await store.universe(conn)
                        if calendar_code_for(figi_exchange=m["exch_code"]) == due.exchange
                    ]
                outcomes = await refresh_members(
                    engine=runtime.engine,
                    chains=chains,
                    members=members,
                    start=start,
                    end=end,
                    correlation_id=f"schedule:{due.exchange}:{due.session.isoformat()}",
                    fundamentals=fundamentals,
                )
                log.info(
                    "scheduled refresh done",
                    exchange=due.exchange,
                    session=due.session.isoformat(),
                    instruments=len(outcomes),
                    stored=sum(o.stored for o in outcomes),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next close tries again; missing ranges remain
                log.warning("scheduled refresh failed", exchange=due.exchange, error=repr(exc))
            if runtime.relay is not None:
                runtime.relay.wake()

    return run


def bootstrap(settings: PricingSettings | None = None) -> FastAPI:
    settings = settings or PricingSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    http = instrumented_client(SERVICE)
    chains = build_chains(settings, http)
    fundamentals = build_fundamentals(settings, http)
    register_handlers(runtime.broker, runtime, settings, chains, fundamentals)
    if settings.pricing_schedule_enabled:
        runtime.background.append(scheduled_refresh(runtime, settings, chains, fundamentals))
    return runtime.build_http(build_router(runtime))


def main() -> None:
    settings = PricingSettings()
    serve(bootstrap(settings), host=settings.http_host, port=settings.pricing_http_port)


if __name__ == "__main__":
    main()
