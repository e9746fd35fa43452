"""OpenFIGI's budgets as the emulator enforces them: fixed windows per API key (or per
client address without one), job ceilings, and the log of every request's arrival."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Bucket = Literal["mapping", "search"]


@dataclass(frozen=True, slots=True)
class WindowLimit:
    max_requests: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> WindowLimit:
        """`"25/6"` -> 25 requests per 6 seconds."""
        count, _, seconds = text.partition("/")
        return cls(int(count), float(seconds))


@dataclass(frozen=True, slots=True)
class OpenFigiLimits:
    """Published limits (specs/openfigi.md section 2); every figure can be changed so tests
    can run the same rules on short windows."""

    mapping_keyed: WindowLimit = WindowLimit(25, 6.0)
    mapping_anonymous: WindowLimit = WindowLimit(25, 60.0)
    search_keyed: WindowLimit = WindowLimit(20, 60.0)
    search_anonymous: WindowLimit = WindowLimit(5, 60.0)
    jobs_keyed: int = 100
    # 10 without a key: live probes in 2026 still accepted 10 (the spec's recommendation).
    jobs_anonymous: int = 10

    def window(self, bucket: Bucket, keyed: bool) -> WindowLimit:
        if bucket == "mapping":
            return self.mapping_keyed if keyed else self.mapping_anonymous
        return self.search_keyed if keyed else self.search_anonymous

    def max_jobs(self, keyed: bool) -> int:
        return self.jobs_keyed if keyed else self.jobs_anonymous


@dataclass(slots=True)
class WindowState:
    started_at: float
    hits: int = 0


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    allowed: bool
    limit: WindowLimit
    remaining: int
    reset_s: int


class FixedWindows:
    """A fixed window starts at a client's first request and ends `window_s` later; like
    express-rate-limit, every request counts, rejected ones included."""

    def __init__(self) -> None:
        self._windows: dict[tuple[Bucket, str], WindowState] = {}

    def hit(self, bucket: Bucket, client: str, limit: WindowLimit, now: float) -> WindowVerdict:
        state = self._windows.get((bucket, client))
        if state is None or now >= state.started_at + limit.window_s:
            state = WindowState(started_at=now)
            self._windows[(bucket, client)] = state
        state.hits += 1
        # The real header counts whole seconds down to the window's end (60 -> 47 -> ...).
        reset_s = max(1, math.ceil(state.started_at + limit.window_s - now))
        return WindowVerdict(
            allowed=state.hits <= limit.max_requests,
            limit=limit,
            remaining=max(0, limit.max_requests - state.hits),
            reset_s=reset_s,
        )

    def clear(self) -> None:
        self._windows.clear()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    t: float  # seconds on the emulator's monotonic clock
    bucket: str
    client: str
    method: str
    path: str
    status: int
    jobs: int


@dataclass(slots=True)
class RequestLog:
    records: list[RequestRecord] = field(default_factory=list)

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def max_in_window(self, window_s: float, *, bucket: str, client: str | None = None) -> int:
        """Most requests that arrived within any `window_s`-long interval (sliding), so a
        test can assert "never more than 25 in any 6 s window"."""
        times = sorted(
            r.t
            for r in self.records
            if r.bucket == bucket and (client is None or r.client == client)
        )
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
