"""The in-process window limiter admits at most N calls in every sliding window of T."""

from __future__ import annotations

import asyncio
import time

from secmaster_common.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from secmaster_common.limiter import WindowLimiter


def max_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_100_concurrent_callers_never_exceed_n_per_window() -> None:
    limiter = WindowLimiter(5, 0.2)
    stamps: list[float] = []

    async def caller() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(100)))
    elapsed = time.monotonic() - started
    assert len(stamps) == 100
    # A window that starts exactly at an admission still holds at most N.
    assert max_in_any_window(stamps, 0.2) <= 5
    # ... and the limiter runs at the limit, not far below it: 100 calls need 19 full
    # windows after the first burst of 5.
    assert 19 * 0.2 <= elapsed < 19 * 0.2 + 1.0


async def test_penalize_holds_everyone_back() -> None:
    limiter = WindowLimiter(3, 0.1)
    limiter.penalize(0.3)
    t0 = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - t0 >= 0.29


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker("t", failure_threshold=2, reset_timeout_s=10, clock=lambda: now[0])
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    try:
        breaker.before_call()
        raise AssertionError("an open breaker let a call through")
    except CircuitOpenError as exc:
        assert exc.retry_in_s == 10
    now[0] = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the one probe
    try:
        breaker.before_call()
        raise AssertionError("half-open let a second probe through")
    except CircuitOpenError:
        pass
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 20.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
