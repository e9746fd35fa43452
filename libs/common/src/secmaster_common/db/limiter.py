"""A window rate limiter whose budget is shared by every process through Postgres.

Each admission is a row; an admitting transaction takes an advisory lock on the budget,
reads the N most recent anchors and admits every waiter the window has room for now or
within a short lead (by the database clock, the one clock all replicas share).
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
    due: datetime  # database time from which it may be used (>= db_now)
    release_at: float  # time.monotonic() at which `due` has surely passed


@dataclass(frozen=True, slots=True)
class _Waiter:
    in_flight: bool
    granted: asyncio.Future[_Admission]


def admission_times(
    recent: Sequence[datetime],
    *,
    now: datetime,
    span: timedelta,
    n: int,
    wanted: int,
    horizon: datetime,
) -> tuple[list[datetime], datetime | None]:
    """When each of up to `wanted` new admissions may happen, given the `n` most recent
    anchors (newest first), counting only those due by `horizon`; and when the next one
    after them could (None: unknown, a request still in flight decides it).

    The j-th new admission needs the (n-j+1)-th most recent anchor to be at least `span`
    old: with the j-1 before it, that keeps at most n in any window. Anchors after
    `horizon` belong to requests in flight (dated far ahead until answered)."""
    times: list[datetime] = []
    for j in range(1, n + 1):
        idx = n - j
        if idx >= len(recent):  # fewer than n anchors: room now
            due = now
        elif recent[idx] > horizon:
            return times, None
        else:
            due = max(now, recent[idx] + span)
        if due > horizon or len(times) == wanted:
            return times, due
        times.append(due)
    return times, None


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
    read of the recent anchors, one multi-row insert) grants, in arrival order, every
    waiter the window has room for now or within `lead_s`. A row counts from that commit
    on; a waiter granted ahead is woken by a local timer when its time comes. Admitting
    one request per transaction spread a burst over as many round trips, and at a window
    boundary (where the previous window's answers free a slot every few milliseconds) made
    every request wait for the transactions of those before it; a request that leaves late
    leaves late in every later window too.
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
        lead_s: float = 0.1,
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
        self.lead_s = lead_s
        # Admissions are kept this long (for audit and tests), then pruned.
        self.retain = timedelta(seconds=max(retain_s, 2 * (window_s + margin_s)))
        self._lock_key = zlib.crc32(f"ratelimit:{budget}".encode())
        self._waiting: collections.deque[_Waiter] = collections.deque()
        self._admitter: asyncio.Task[None] | None = None
        self._next_prune = 0.0
        self._unanchored: list[tuple[int, datetime, asyncio.Future[None]]] = []
        self._anchorer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

    async def _try_admit(self, in_flight: Sequence[bool]) -> tuple[float, list[_Admission]]:
        """Admit the first waiters that fit now or within `lead_s` (one flag each: in
        flight or not). Returns their admissions and the seconds until the next one could
        fit (`poll_s` while a request in flight decides it)."""
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
            # ... and after it: `local_after + (t - db_now)` is never before database time t.
            local_after = time.monotonic()
            assert isinstance(now, datetime)
            horizon = now + timedelta(seconds=self.lead_s)
            dues, next_due = admission_times(
                list(newest), now=now, span=span, n=self.max_calls, wanted=len(in_flight),
                horizon=horizon,
            )  # fmt: skip
            wait = self.poll_s if next_due is None else (next_due - now).total_seconds()
            if not dues:
                return wait, []
            # Admissions due within the lead are granted now and used when due: each row
            # counts (in flight: dated far ahead; else at its due time) from this commit
            # on, so no one can take its place, and the waiter is woken on time by a local
            # timer instead of by one more transaction per admission.
            future = now + timedelta(seconds=self.in_flight_cap_s)
            ids = (
                await conn.scalars(
                    sa.insert(adm)
                    .values(
                        [
                            {"budget": self.budget, "admitted_at": future if flag else due}
                            for flag, due in zip(in_flight, dues, strict=False)
                        ]
                    )
                    .returning(adm.c.id)
                )
            ).all()
            # Rows older than the window can never matter again; prune what is past
            # retention, once a window at most (a round trip saved on most admissions).
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self.window_s
                await conn.execute(
                    sa.delete(adm).where(
                        adm.c.budget == self.budget, adm.c.admitted_at < now - self.retain
                    )
                )
        # Identity values are drawn row by row in VALUES order: sorted ids are that order.
        return wait, [
            _Admission(
                row_id=int(row_id),
                db_now=now,
                local_before=local_before,
                due=due,
                release_at=local_after + (due - now).total_seconds(),
            )
            for row_id, due in zip(sorted(ids), dues, strict=True)
        ]

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
                    self._release_unused(admission, in_flight=waiter.in_flight)
                else:
                    waiter.granted.set_result(admission)
            if len(granted) < len(batch):
                # Wake a lead early: what falls due within it is granted in one go.
                await asyncio.sleep(max(wait - self.lead_s, 0.0) if wait > self.poll_s else wait)

    def _release_unused(self, admission: _Admission, *, in_flight: bool) -> None:
        """A waiter cancelled before using its admission: nothing was sent, so an in-flight
        row stands for a request made when it was due instead of blocking a slot until the
        in-flight cap."""
        if in_flight:
            task = asyncio.ensure_future(self._anchor(admission.row_id, admission.due))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _admit(self, *, in_flight: bool) -> _Admission:
        waiter = _Waiter(in_flight, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        if self._admitter is None or self._admitter.done():
            self._admitter = asyncio.ensure_future(self._admit_waiting())
        admission = await waiter.granted
        try:
            await asyncio.sleep(max(admission.release_at - time.monotonic(), 0.0))
        except asyncio.CancelledError:
            self._release_unused(admission, in_flight=in_flight)
            raise
        return admission

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
        """Date the row `at` (its answer); returns once that is committed."""
        written = asyncio.get_running_loop().create_future()
        self._unanchored.append((row_id, at, written))
        if self._anchorer is None or self._anchorer.done():
            self._anchorer = asyncio.ensure_future(self._write_anchors())
        await written

    async def _write_anchors(self) -> None:
        """Runs while answers wait to be anchored: one UPDATE for all that are waiting. A
        window's answers come in a burst; a transaction (and a pooled connection) each
        would make the burst compete for the event loop with the requests still leaving."""
        while self._unanchored:
            batch, self._unanchored = self._unanchored, []
            try:
                async with self.engine.connect() as conn, conn.begin():
                    await conn.execute(
                        sa.text(
                            "UPDATE rate_limit_admissions a SET admitted_at = u.at "
                            "FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) "
                            "AS u(id, at) WHERE a.id = u.id"
                        ),
                        {"ids": [row_id for row_id, _, _ in batch],
                         "ats": [at for _, at, _ in batch]},
                    )  # fmt: skip
            except Exception as exc:
                # Unanchored rows stay dated in the future: they keep counting until the
                # in-flight cap, which errs on the safe side.
                for _, _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            except asyncio.CancelledError:
                for _, _, written in batch:
                    written.cancel()
                raise
            for _, _, written in batch:
                if not written.done():
                    written.set_result(None)

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
