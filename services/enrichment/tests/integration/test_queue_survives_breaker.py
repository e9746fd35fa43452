"""The durable mapping queue over real Postgres: a burst of 5xx and 429s from the emulator
opens the circuit breaker, the leased identifiers go back to the queue, and every one of
them ends up mapped after the breaker closes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient, RetryPolicy
from enrichment.service import CachePolicy, drain_queue_once, request_mappings
from secmaster_common.breaker import BreakerState, CircuitBreaker
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.limiter import WindowLimiter

from .conftest import StartEmulator, cusips, emulator_stats

pytestmark = pytest.mark.integration

KEY = "queue-key"


class WatchedBreaker(CircuitBreaker):
    """The real breaker, remembering every state it went through."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[BreakerState] = []

    def _set(self, state: BreakerState) -> None:
        if not self.seen or self.seen[-1] is not state:
            self.seen.append(state)
        super()._set(state)


async def test_burst_of_5xx_and_429_opens_the_breaker_and_loses_nothing(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator(api_keys={KEY}, synthesize=True)
    ids = cusips(30)
    async with UnitOfWork(engine, producer="test") as uow:
        counts = await request_mappings(
            uow=uow, refs=[("CUSIP", c, {}) for c in ids], correlation_id="burst",
            policy=CachePolicy(), now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        await uow.commit()
    assert counts["queued"] == 30
    async with httpx.AsyncClient(base_url=url) as admin:
        await admin.post("/_emulator/faults", json={"status": 503, "count": 4})
        await admin.post("/_emulator/faults", json={"status": 429, "count": 3, "retry_after_s": 1})
    breaker = WatchedBreaker("openfigi-test", failure_threshold=3, reset_timeout_s=0.5)
    client = OpenFigiClient(
        url, KEY, limiter=WindowLimiter(25, 6.0, margin_s=0.05), breaker=breaker,
        batch_size=10, retry=RetryPolicy(attempts=2, wait_initial_s=0.01, wait_max_s=0.02,
        jitter_s=0.0, max_rate_limited=1),
    )  # fmt: skip
    released_while_open = 0
    deadline = time.monotonic() + 25
    async with client:
        while time.monotonic() < deadline:
            await drain_queue_once(
                engine=engine, client=client, limit=10, lease_s=30, retry_delay_s=0.3
            )
            async with engine.connect() as conn:
                depth = await cache.queue_depth(conn)
                released_while_open = max(
                    released_while_open,
                    int(
                        await conn.scalar(
                            sa.text(
                                "SELECT count(*) FROM mapping_queue "
                                "WHERE last_error LIKE '%is open%'"
                            )
                        )
                        or 0
                    ),
                )
            if depth == 0:
                break
            await asyncio.sleep(0.1)
    assert BreakerState.OPEN in breaker.seen
    assert breaker.seen[-1] is BreakerState.CLOSED
    assert released_while_open > 0  # identifiers waited in the queue while it was open
    async with engine.connect() as conn:
        stats = await cache.stats(conn)
        mapped = set(
            await conn.scalars(
                sa.text("SELECT id_value FROM security_mappings WHERE NOT has_no_results")
            )
        )
    assert mapped == set(ids)
    assert (stats["mapped"], stats["queued"]) == (30, 0)
    by_status = (await emulator_stats(url))["by_status"]
    assert by_status["503"] == 4 and by_status["429"] == 3 and by_status["200"] >= 3
