"""A window rate limiter whose budget is shared by every process through Postgres.

Each admission is a row; a caller takes a transaction-scoped advisory lock on the
budget, reads the N-th most recent admission, and is admitted only if it is at least
T seconds old (by the database clock, the one clock all replicas share).
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.tables import rate_limit_admissions as adm


class PostgresWindowLimiter:
    """At most `max_calls` admissions in any window of `window_s` seconds for `budget`
    (e.g. "openfigi:mapping:<key hash>"), across all processes sharing the database."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        budget: str,
        max_calls: int,
        window_s: float,
        margin_s: float = 0.0,
        retain_s: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.budget = budget
        self.max_calls = max_calls
        self.window_s = window_s
        self.margin_s = margin_s
        # Admissions are kept this long (for audit and tests), then pruned.
        self.retain = timedelta(seconds=max(retain_s, 2 * (window_s + margin_s)))
        self._lock_key = zlib.crc32(f"ratelimit:{budget}".encode())
        self._local = asyncio.Lock()

    async def _try_admit(self) -> float:
        """Admit now and return 0, or return the seconds to wait before trying again."""
        span = timedelta(seconds=self.window_s + self.margin_s)
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            now = await conn.scalar(sa.select(sa.func.clock_timestamp()))
            nth = await conn.scalar(
                sa.select(adm.c.admitted_at)
                .where(adm.c.budget == self.budget)
                .order_by(adm.c.admitted_at.desc())
                .offset(self.max_calls - 1)
                .limit(1)
            )
            if nth is not None and nth + span > now:
                return (nth + span - now).total_seconds()
            await conn.execute(sa.insert(adm).values(budget=self.budget, admitted_at=now))
            # Rows older than the window can never matter again; prune what is past retention.
            await conn.execute(
                sa.delete(adm).where(adm.c.budget == self.budget, adm.c.admitted_at < now - self.retain)
            )
            return 0.0

    async def acquire(self) -> None:
        # One waiter per process at a time keeps the lock table quiet; FIFO within it.
        async with self._local:
            while True:
                wait = await self._try_admit()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)

    async def penalize(self, wait_s: float) -> None:
        """Fill the window so nobody is admitted for `wait_s` (the server's retry-after)."""
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            now = await conn.scalar(sa.select(sa.func.clock_timestamp()))
            at = now + timedelta(seconds=wait_s - self.window_s - self.margin_s)
            await conn.execute(
                sa.insert(adm), [{"budget": self.budget, "admitted_at": at}] * self.max_calls
            )
