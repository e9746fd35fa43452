"""The process shape every service shares: FastStream broker + outbox relay + HTTP API
(`/healthz`, `/readyz`, `/metrics` and the service's own routes), started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import OutboxRelay, make_relay_producer
from secmaster_common.kafka import make_broker
from secmaster_common.logging import configure_logging, get_logger
from secmaster_common.services import service_dsn
from secmaster_common.settings import CommonSettings

log = get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]

CONSUMER_LAG = Gauge(
    "secmaster_consumer_lag",
    "Messages not yet committed by the group (highwater - committed offset), per partition",
    ["service", "topic", "partition"],
)


async def record_consumer_lag(service: str, broker: KafkaBroker) -> int:
    """Set the lag gauge for every partition this process consumes; returns the total."""
    total = 0
    for sub in broker.subscribers:
        consumer = getattr(sub, "consumer", None)
        if consumer is None:
            continue
        assigned = list(consumer.assignment())
        if not assigned:
            continue
        try:
            # Asked of the broker now: the consumer's own highwater is only as fresh as its
            # last fetch, which a long-running handler delays.
            ends = await asyncio.wait_for(consumer.end_offsets(assigned), timeout=2.0)
        except Exception:
            continue
        for tp in assigned:
            high = ends.get(tp)
            if high is None:
                continue
            try:
                committed = await asyncio.wait_for(consumer.committed(tp), timeout=2.0)
            except Exception:
                continue  # the group is rebalancing or the broker is away: next round
            # Offsets are committed only after processing, so this is processing lag.
            lag = max(0, high - (committed or 0))
            CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(lag)
            total += lag
    return total


@dataclass
class ServiceRuntime:
    """Everything one service process runs. Build it in the service's `bootstrap()`."""

    name: str
    settings: CommonSettings
    engine: AsyncEngine
    broker: KafkaBroker
    topic_prefix: str = ""
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    relay: OutboxRelay | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, settings: CommonSettings) -> ServiceRuntime:
        """Logging, the engine (as the service's app role, bound to its schema) and the
        broker for service `name`: what every service's `bootstrap()` starts with."""
        configure_logging(service=name, level=settings.log_level, json=settings.log_json)
        return cls(
            name=name,
            settings=settings,
            engine=make_engine(service_dsn(settings, name), schema=name),
            broker=make_broker(settings, client_id=name),
            topic_prefix=settings.topic_prefix,
        )

    def wake_relay(self) -> None:
        """Publish the outbox now (after a commit) rather than at the next poll."""
        if self.relay is not None:
            self.relay.wake()

    def build_http(self, *routers: Any) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=f"secmaster {self.name}", lifespan=lifespan)
        app.state.runtime = self

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.name}

        @app.get("/readyz")
        async def readyz(response: Response) -> dict[str, Any]:
            checks = await self.readiness()
            ok = all(v == "ok" for v in checks.values())
            response.status_code = 200 if ok else 503
            return {"status": "ready" if ok else "not ready", "checks": checks}

        @app.get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        for router in routers:
            app.include_router(router)
        return app

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["broker"] = "ok" if await self.broker.ping(timeout=2.0) else "error: unreachable"
        if self.relay is not None:
            try:
                checks["outbox_backlog"] = "ok"
                await self.relay.backlog()
            except Exception as exc:
                checks["outbox_backlog"] = f"error: {type(exc).__name__}"
        return checks

    async def start(self) -> None:
        producer = make_relay_producer(
            self.settings.kafka_bootstrap_servers,
            client_id=self.name,
            enable_idempotence=self.settings.kafka_enable_idempotence,
        )
        await producer.start()
        self.relay = OutboxRelay(
            self.engine,
            producer,
            service=self.name,
            topic_prefix=self.topic_prefix,
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
        )
        self._producer = producer
        await self.broker.start()
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")]
        self._tasks += [
            asyncio.create_task(job(), name=f"{self.name}-bg") for job in self.background
        ]
        log.info("service started", service=self.name)

    async def _lag_loop(self, interval_s: float = 10.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Exception):
                await record_consumer_lag(self.name, self.broker)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._producer.stop(), timeout=10)
        await self.engine.dispose()
        log.info("service stopped", service=self.name)


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run the service until SIGINT/SIGTERM (uvicorn handles the signals)."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    uvicorn.Server(config).run()
