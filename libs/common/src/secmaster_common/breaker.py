"""Circuit breaker (closed / open / half-open) with its state exported as a metric.

Hand-written because the maintained Python breakers are sync-only or tie state to
a backend we do not run; this one is ~80 lines and async-native.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Gauge

T = TypeVar("T")

BREAKER_STATE = Gauge(
    "secmaster_circuit_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open",
    ["breaker"],
)


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(RuntimeError):
    """Raised instead of calling the guarded API while the breaker is open."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; next probe in {retry_in_s:.1f}s")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `reset_timeout_s`
    lets one probe through (half-open); a success closes it, a failure re-opens it."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._state = BreakerState.CLOSED
        BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._remaining() <= 0:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _remaining(self) -> float:
        return self._opened_at + self.reset_timeout_s - self._clock()

    def _set(self, state: BreakerState) -> None:
        self._state = state
        BREAKER_STATE.labels(self.name).set(int(state))

    def before_call(self) -> None:
        """Raise `CircuitOpenError` unless a call may go out now."""
        state = self.state
        if state is BreakerState.OPEN:
            raise CircuitOpenError(self.name, self._remaining())
        if state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                raise CircuitOpenError(self.name, self.reset_timeout_s)
            self._probe_in_flight = True

    def record_success(self) -> None:
        self._failures = 0
        self._probe_in_flight = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` under the breaker: any exception counts as a failure and propagates."""
        self.before_call()
        try:
            result = await fn()
        except BaseException:
            self.record_failure()
            raise
        self.record_success()
        return result
