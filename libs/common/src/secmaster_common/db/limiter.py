"""A window rate limiter whose budget is shared by every process through Postgres.

Each admission is a row; an admitting transaction takes an advisory lock on the budget,
reads the N most recent anchors and admits as many waiters as the window has room for
(by the database clock, the one clock all replicas share).
"""

from __future__ import annotations

import asyncio
import collections
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.tables import rate_limit_admissions as adm


@dataclass(frozen=True, slots=True)
class _Admission:
    row_id: int
    db_now: datetime  # the database clock when it was granted
    local_before: float  # time.monotonic() just before that clock was read


@dataclass(frozen=True, slots=True)
class _Waiter:
    in_flight: bool
    granted: asyncio.Future[_Admission]


def room_in_window(recent: Sequence[datetime], *, now: datetime, span: timedelta, n: int) -> int:
    """How many admissions fit at `now` given the `n` most recent anchors (newest first):
    the j-th new one needs the (n-j+1)-th most recent to be at least `span` old, so the
    room is `n` less the anchors still inside the window (in-flight ones are in the future
    and always inside)."""
    return n - sum(1 for at in recent[:n] if at + span > now)


class PostgresWindowLimiter:
    """At most `max_calls` admissions in any window of `window_s` seconds for `budget`
    (e.g. "openfigi:mapping:<key hash>"), across all processes sharing the database.

    `acquire()` anchors an admission at the moment it is granted. `admission()` (an async
    context manager around the request) anchors it at the moment the answer came back: a
    server counts arrivals, and an arrival can lag its admission by a connection set-up or
    a busy event loop, but it is never later than the answer. While a request is in flight
    its row is dated `in_flight_cap_s` in the future, so it counts in every window until it
    is answered (or until the cap, if its process died mid-request).

    Waiters of one process are admitted together: one transaction (one advisory lock, one
    read of the recent anchors, one multi-row insert) grants every waiter the window has
    room for, in arrival order. Admitting a burst one transaction at a time spreads it over
    as many round trips, and that spread is carried into every later window.
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
        self._waiting: collections.deque[_Waiter] = collections.deque()
        self._admitter: asyncio.Task[None] | None = None

    async def _try_admit(self, in_flight: Sequence[bool]) -> tuple[float, list[_Admission]]:
        """Admit the first waiters that fit now (one flag each: in flight or not). Returns
        (0, their admissions), or (seconds to wait before the next try, [])."""
        span = timedelta(seconds=self.window_s + self.margin_s)
        async with self.engine.connect() as conn, conn.begin():
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            # A statement after the lock's: its snapshot sees every admission committed
            # before we got the lock. Read just before the clock, so that
            # `db_now + (monotonic() - local_before)` is never earlier than the real
            # database time (see `admission`), and as close to it as we can be.
            local_before = time.monotonic()
            now, newest = (
                await conn.execute(
                    sa.text(
                        "SELECT clock_timestamp(), ARRAY(SELECT admitted_at "
                        "FROM rate_limit_admissions WHERE budget = :budget "
                        "ORDER BY admitted_at DESC LIMIT :n)"
                    ),
                    {"budget": self.budget, "n": self.max_calls},
                )
            ).one()
            assert isinstance(now, datetime)
            recent: list[datetime] = list(newest)
            room = room_in_window(recent, now=now, span=span, n=self.max_calls)
            if room <= 0:
                nth = recent[self.max_calls - 1]
                wait = (nth + span - now).total_seconds()
                if nth > now:
                    # The N-th most recent request is still in flight: its answer (which
                    # fixes the real wait) may come any moment, so look again soon.
                    wait = min(wait, self.poll_s)
                return max(wait, 0.0), []
            flags = in_flight[:room]
            future = now + timedelta(seconds=self.in_flight_cap_s)
            inserted = (
                await conn.execute(
                    sa.insert(adm)
                    .values(
                        [
                            {"budget": self.budget, "admitted_at": future if f else now}
                            for f in flags
                        ]
                    )
                    .returning(adm.c.id, adm.c.admitted_at)
                )
            ).all()
            # Rows older than the window can never matter again; prune what is past retention.
            await conn.execute(
                sa.delete(adm).where(
                    adm.c.budget == self.budget, adm.c.admitted_at < now - self.retain
                )
            )
        # Hand each waiter a row of its own kind (in flight: dated in the future).
        rows = {
            True: [i for i, at in inserted if at > now],
            False: [i for i, at in inserted if at <= now],
        }
        return 0.0, [_Admission(int(rows[f].pop()), now, local_before) for f in flags]

    async def _admit_waiting(self) -> None:
        """Runs while this process has waiters: grants them in batches, oldest first."""
        while True:
            batch = [w for w in self._waiting if not w.granted.done()]
            self._waiting = collections.deque(batch)
            if not batch:
                return
            try:
                wait, granted = await self._try_admit([w.in_flight for w in batch])
            except Exception as exc:
                # Every waiter of this process would meet the same database: fail them
                # all now rather than leave some without an admitter.
                for w in self._waiting:
                    if not w.granted.done():
                        w.granted.set_exception(exc)
                self._waiting.clear()
                return
            except asyncio.CancelledError:
                for w in self._waiting:
                    w.granted.cancel()
                self._waiting.clear()
                raise
            for waiter, admission in zip(batch, granted, strict=False):
                self._waiting.popleft()
                if waiter.granted.done():
                    # Cancelled during the transaction: nothing was sent, so the row
                    # stands for a request made now, not for one in flight.
                    if waiter.in_flight:
                        await self._anchor(admission.row_id, admission.db_now)
                else:
                    waiter.granted.set_result(admission)
            if not granted:
                await asyncio.sleep(wait)

    async def _admit(self, *, in_flight: bool) -> _Admission:
        waiter = _Waiter(in_flight, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        if self._admitter is None or self._admitter.done():
            self._admitter = asyncio.ensure_future(self._admit_waiting())
        return await waiter.granted

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
            now = await conn.scalar(sa.select(sa.func.clock_timestamp()))
            assert isinstance(now, datetime)
            at = now + timedelta(seconds=wait_s - self.window_s - self.margin_s)
            await conn.execute(
                sa.insert(adm), [{"budget": self.budget, "admitted_at": at}] * self.max_calls
            )
