"""Window rate limiters that never admit more than N calls in any window of T seconds.

Written by hand because aiolimiter is a leaky bucket (it lets ~2N through in some
T-second window) and the published API limits we must hold are sliding/fixed windows.
`WindowLimiter` keeps the budget in process; `PostgresWindowLimiter` (in
`secmaster_common.db.limiter`) shares one budget across processes and replicas.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Protocol


class RateLimiter(Protocol):
    """Anything that can hold a caller until one more call fits the budget."""

    async def acquire(self) -> None: ...


class WindowLimiter:
    """Sliding-log limiter: call k+N is admitted no earlier than T (+margin) after call k.

    That is the exact condition for "at most N admissions in every window of length T",
    for sliding and for fixed windows alike. `margin_s` absorbs network jitter between
    our admission time and the server's arrival time.
    """

    def __init__(self, max_calls: int, window_s: float, *, margin_s: float = 0.0) -> None:
        if max_calls < 1 or window_s <= 0:
            raise ValueError("max_calls must be >= 1 and window_s > 0")
        self.max_calls = max_calls
        self.window_s = window_s
        self.margin_s = margin_s
        self._admitted: collections.deque[float] = collections.deque(maxlen=max_calls)
        self._lock = asyncio.Lock()

    def _wait_needed(self, now: float) -> float:
        if len(self._admitted) < self.max_calls:
            return 0.0
        return self._admitted[0] + self.window_s + self.margin_s - now

    async def acquire(self) -> None:
        # The lock makes admission FIFO: callers are served in arrival order.
        async with self._lock:
            while True:
                wait = self._wait_needed(time.monotonic())
                if wait <= 0:
                    self._admitted.append(time.monotonic())
                    return
                await asyncio.sleep(wait)

    def penalize(self, wait_s: float) -> None:
        """Push the budget back after the server said `retry-after`: fill the log so the
        next admission happens no earlier than `wait_s` from now."""
        horizon = time.monotonic() + wait_s - self.window_s - self.margin_s
        for _ in range(self.max_calls):
            self._admitted.append(horizon)

    async def __aenter__(self) -> WindowLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
