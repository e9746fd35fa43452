"""The Postgres-shared limiter holds one budget across concurrent callers and across
processes: at most N admissions in every sliding window of T, by the database clock."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import datetime

import asyncpg
import pytest

from secmaster_common.db.engine import make_engine
from secmaster_common.db.limiter import PostgresWindowLimiter
from secmaster_common.services import service_role_dsn

pytestmark = pytest.mark.integration

N, T = 5, 0.5

WORKER = f"""
import asyncio, sys
from secmaster_common.db.engine import make_engine
from secmaster_common.db.limiter import PostgresWindowLimiter

async def main(dsn, budget, calls):
    engine = make_engine(dsn, schema="enrichment", pool_size=4)
    limiter = PostgresWindowLimiter(engine, budget=budget, max_calls={N}, window_s={T})
    await asyncio.gather(*(limiter.acquire() for _ in range(calls)))
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def max_in_any_window(stamps: list[datetime], window: float) -> int:
    secs = sorted(s.timestamp() for s in stamps)
    best, j = 0, 0
    for i, t in enumerate(secs):
        while secs[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def _admissions(dsn: str, budget: str) -> list[datetime]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT admitted_at FROM enrichment.rate_limit_admissions WHERE budget = $1", budget
        )
    finally:
        await conn.close()
    return [r["admitted_at"] for r in rows]


async def test_100_concurrent_callers_share_one_budget(fresh_database: str) -> None:
    app_dsn = service_role_dsn(fresh_database, "enrichment", "app")
    engine = make_engine(app_dsn, schema="enrichment")
    budget = f"test:{uuid.uuid4()}"
    # Two limiter objects in one process behave like two replicas' limiters.
    limiters = [
        PostgresWindowLimiter(engine, budget=budget, max_calls=N, window_s=T) for _ in range(2)
    ]
    try:
        await asyncio.gather(*(limiters[i % 2].acquire() for i in range(100)))
    finally:
        await engine.dispose()
    stamps = await _admissions(fresh_database, budget)
    assert len(stamps) == 100
    assert max_in_any_window(stamps, T) <= N
    span = (max(stamps) - min(stamps)).total_seconds()
    assert span >= (100 / N - 1) * T  # it really waited: 19 windows for 100 calls


async def test_two_processes_share_one_budget(fresh_database: str) -> None:
    app_dsn = service_role_dsn(fresh_database, "enrichment", "app")
    budget = f"test:{uuid.uuid4()}"
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, app_dsn, budget, "20")
        for _ in range(2)
    ]
    codes = [await p.wait() for p in procs]
    assert codes == [0, 0]
    stamps = await _admissions(fresh_database, budget)
    assert len(stamps) == 40
    assert max_in_any_window(stamps, T) <= N
