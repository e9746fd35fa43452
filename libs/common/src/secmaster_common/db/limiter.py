"""A window rate limiter whose budget is shared by every process through Postgres.

Each admission is a row; a caller takes a transaction-scoped advisory lock on the
budget, reads the N-th most recent anchor, and is admitted only if it is at least
T seconds old (by the database clock, the one clock all replicas share).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secmaster_common.db.tables import rate_limit_admissions as adm


async def _db_now(conn: AsyncConnection) -> datetime:
    now = await conn.scalar(sa.select(sa.func.clock_timestamp()))
    assert isinstance(now, datetime)
    return now


@dataclass(frozen=True, slots=True)
class _Admission:
    row_id: int
    db_now: datetime  # the database clock when it was granted
    local_before: float  # time.monotonic() just before that clock was read


class PostgresWindowLimiter:
    """At most `max_calls` admissions in any window of `window_s` seconds for `budget`
    (e.g. "openfigi:mapping:<key hash>"), across all processes sharing the database.

    `acquire()` anchors an admission at the moment it is granted. `admission()` (an async
    context manager around the request) anchors it at the moment the answer came back: a
    server counts arrivals, and an arrival can lag its admission by a connection set-up or
    a busy event loop, but it is never later than the answer. While a request is in flight
    its row is dated `in_flight_cap_s` in the future, so it counts in every window until it
    is answered (or until the cap, if its process died mid-request).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        budget: str,
        max_calls: int,
        window_s: float,
        margin_s: float = 0.0,
        retain_s: float = 3600.0,
        in_flight_cap_s: float = 120.0,
        poll_s: float = 0.05,
    ) -> None:
        if max_calls < 1 or window_s <= 0:
            raise ValueError("max_calls must be >= 1 and window_s > 0")
        self.engine = engine
        self.budget = budget
        self.max_calls = max_calls
        self.window_s = window_s
        self.margin_s = margin_s
        self.in_flight_cap_s = in_flight_cap_s
        self.poll_s = poll_s
        # Admissions are kept this long (for audit and tests), then pruned.
        self.retain = timedelta(seconds=max(retain_s, 2 * (window_s + margin_s)))
        self._lock_key = zlib.crc32(f"ratelimit:{budget}".encode())
        self._local = asyncio.Lock()

    async def _try_admit(self, *, in_flight: bool) -> tuple[float, _Admission | None]:
        """Admit now and return (0, the admission), or (seconds to wait, None)."""
        span = timedelta(seconds=self.window_s + self.margin_s)
        # Read before the database clock is: `db_now + (monotonic() - local_before)` is
        # then never earlier than the real database time (see `admission`).
        local_before = time.monotonic()
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            now = await _db_now(conn)
            nth: datetime | None = await conn.scalar(
                sa.select(adm.c.admitted_at)
                .where(adm.c.budget == self.budget)
                .order_by(adm.c.admitted_at.desc())
                .offset(self.max_calls - 1)
                .limit(1)
            )
            if nth is not None and nth + span > now:
                wait = (nth + span - now).total_seconds()
                if nth > now:
                    # The N-th most recent request is still in flight: its answer (which
                    # fixes the real wait) may come any moment, so look again soon.
                    wait = min(wait, self.poll_s)
                return wait, None
            anchor = now + timedelta(seconds=self.in_flight_cap_s) if in_flight else now
            row_id = await conn.scalar(
                sa.insert(adm).values(budget=self.budget, admitted_at=anchor).returning(adm.c.id)
            )
            # Rows older than the window can never matter again; prune what is past retention.
            await conn.execute(
                sa.delete(adm).where(
                    adm.c.budget == self.budget, adm.c.admitted_at < now - self.retain
                )
            )
            return 0.0, _Admission(int(row_id), now, local_before)

    async def _admit(self, *, in_flight: bool) -> _Admission:
        # One waiter per process at a time keeps the lock table quiet; FIFO within it.
        async with self._local:
            while True:
                wait, admission = await self._try_admit(in_flight=in_flight)
                if admission is not None:
                    return admission
                await asyncio.sleep(wait)

    async def acquire(self) -> None:
        await self._admit(in_flight=False)

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """Hold one admission for the request made inside the block; it is anchored when
        the block ends (the answer, a timeout or an error: the request may have arrived).

        The anchor is the admission's database time plus the local time elapsed since just
        before it was read, so it is never earlier than the answer, and a late UPDATE (a
        busy connection pool) does not push it later than it really was.
        """
        admitted = await self._admit(in_flight=True)
        try:
            yield
        finally:
            answered_at = admitted.db_now + timedelta(
                seconds=time.monotonic() - admitted.local_before
            )
            await self._anchor(admitted.row_id, answered_at)

    async def _anchor(self, row_id: int, at: datetime) -> None:
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.update(adm).where(adm.c.id == row_id).values(admitted_at=at))

    async def penalize(self, wait_s: float) -> None:
        """Fill the window so nobody is admitted for `wait_s` (the server's retry-after)."""
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            now = await _db_now(conn)
            at = now + timedelta(seconds=wait_s - self.window_s - self.margin_s)
            await conn.execute(
                sa.insert(adm), [{"budget": self.budget, "admitted_at": at}] * self.max_calls
            )
