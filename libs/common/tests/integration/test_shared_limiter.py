"""The Postgres-shared limiter holds one budget across concurrent callers and across
processes: at most N admissions in every sliding window of T, by the database clock."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from secmaster_common.db.engine import make_engine
from secmaster_common.db.limiter import PostgresWindowLimiter, admission_times
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


async def test_a_burst_of_n_is_admitted_in_one_go(fresh_database: str) -> None:
    """N waiters at once leave together (one transaction, one database time), not one
    round trip apart: a spread first window would be carried into every later one."""
    app_dsn = service_role_dsn(fresh_database, "enrichment", "app")
    engine = make_engine(app_dsn, schema="enrichment")
    budget = f"test:{uuid.uuid4()}"
    limiter = PostgresWindowLimiter(engine, budget=budget, max_calls=N, window_s=T)
    try:
        await asyncio.gather(*(limiter.acquire() for _ in range(2 * N)))
    finally:
        await engine.dispose()
    stamps = sorted(await _admissions(fresh_database, budget))
    assert len(set(stamps[:N])) == 1
    assert (stamps[N] - stamps[0]).total_seconds() >= T
    assert max_in_any_window(stamps, T) <= N


async def test_a_request_cancelled_before_it_leaves_does_not_hold_its_slot(
    fresh_database: str,
) -> None:
    """An admission granted ahead of time (within the lead) whose request is cancelled
    before it is due counts from its due time, instead of blocking the budget for the
    in-flight cap (two minutes)."""
    app_dsn = service_role_dsn(fresh_database, "enrichment", "app")
    engine = make_engine(app_dsn, schema="enrichment")
    budget = f"test:{uuid.uuid4()}"
    window = 1.0
    limiter = PostgresWindowLimiter(engine, budget=budget, max_calls=1, window_s=window, lead_s=0.8)

    async def request() -> None:
        async with limiter.admission():
            pass

    try:
        await limiter.acquire()
        started = time.monotonic()
        cancelled = asyncio.create_task(request())
        await asyncio.sleep(0.6)  # granted (due 1 s after the first), not yet due
        cancelled.cancel()
        await asyncio.wait_for(limiter.acquire(), timeout=10)
        # It did count, once: without it the third would have been due 1 s after the first.
        assert time.monotonic() - started >= 1.5 * window
    finally:
        await engine.dispose()
    stamps = sorted(await _admissions(fresh_database, budget))
    assert len(stamps) == 3
    assert max_in_any_window(stamps, window) <= 1


def test_admission_times_follow_the_nth_most_recent_anchor() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    span = timedelta(seconds=6)
    s = timedelta(seconds=1)
    recent = [now - 1 * s, now - 5 * s, now - 7 * s]  # newest first, N = 3
    # The first new one replaces the anchor 7 s old: room now. The second needs the one
    # 5 s old to age 1 s more, beyond a 0.1 s lead: it is the next due.
    assert admission_times(recent, now=now, span=span, n=3, wanted=5, horizon=now + s / 10) == (
        [now],
        now + s,
    )
    # With a 2 s lead it is granted too, due in 1 s; the third would replace the
    # newest anchor (due in 5 s).
    assert admission_times(recent, now=now, span=span, n=3, wanted=5, horizon=now + 2 * s) == (
        [now, now + s],
        now + 5 * s,
    )
    # A request still in flight is dated far ahead: nothing after it can be planned.
    in_flight = [now + 120 * s, now - 7 * s, now - 8 * s]
    assert admission_times(in_flight, now=now, span=span, n=3, wanted=5, horizon=now + s) == (
        [now, now],
        None,
    )
    # Fewer anchors than N: room now for the rest.
    assert admission_times([], now=now, span=span, n=3, wanted=2, horizon=now) == (
        [now, now],
        now,
    )
