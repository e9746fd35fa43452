"""What the provider emulator remembers between requests: published limits as sliding
windows, injected faults, and the request log."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

PROVIDERS = ("yahoo", "alpaca", "polygon", "alphavantage")
ProviderName = Literal["yahoo", "alpaca", "polygon", "alphavantage", "any"]


@dataclass(frozen=True, slots=True)
class WindowRule:
    """At most `max_calls` requests in any `window_s` seconds."""

    max_calls: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> WindowRule:
        """'5/60' -> 5 calls per 60 s."""
        calls, _, seconds = text.partition("/")
        rule = cls(int(calls), float(seconds))
        if rule.max_calls < 1 or rule.window_s <= 0:
            raise ValueError(f"limit {text!r} must be N/SECONDS with N >= 1 and SECONDS > 0")
        return rule


# Published free-tier limits (specs/providers.md): Yahoo publishes none; Alpaca 200/min;
# Polygon 5/min; Alpha Vantage ~1/s burst and 25/day.
PUBLISHED_LIMITS: dict[str, tuple[WindowRule, ...]] = {
    "yahoo": (),
    "alpaca": (WindowRule(200, 60.0),),
    "polygon": (WindowRule(5, 60.0),),
    "alphavantage": (WindowRule(1, 1.0), WindowRule(25, 86_400.0)),
}


class SlidingWindow:
    def __init__(self, rule: WindowRule) -> None:
        self.rule = rule
        self._times: collections.deque[float] = collections.deque()

    def admit(self, now: float) -> float | None:
        """Record the call and return None, or return seconds until one would fit."""
        while self._times and now - self._times[0] >= self.rule.window_s:
            self._times.popleft()
        if len(self._times) >= self.rule.max_calls:
            return self._times[0] + self.rule.window_s - now
        self._times.append(now)
        return None


class FaultRule(BaseModel):
    """Body of `POST /_admin/faults`: the next `count` matching requests (every one until
    cleared when `count` is null) get the fault. Kinds: `rate_limit` (the provider's 429
    or 200 body and headers), `server_error` (`status`, default 503), `empty` (the
    provider's no-data body), `latency` (wait `latency_s`, then answer normally)."""

    provider: ProviderName = "any"
    kind: Literal["rate_limit", "server_error", "empty", "latency"]
    count: int | None = Field(default=1, ge=1)
    symbol: str | None = None
    status: int = Field(default=503, ge=500, le=599)
    latency_s: float = Field(default=0.0, ge=0.0, le=60.0)
    retry_after_s: int = Field(default=1, ge=0)

    def matches(self, provider: str, symbol: str | None) -> bool:
        if self.provider not in ("any", provider):
            return False
        return self.symbol is None or (symbol or "").upper() == self.symbol.upper()


@dataclass(slots=True)
class RequestRecord:
    provider: str
    method: str
    path: str
    query: dict[str, str]
    symbol: str | None
    status: int
    at_s: float
    fault: str | None = None


@dataclass
class EmulatorState:
    limits: dict[str, tuple[WindowRule, ...]]
    unknown_symbols: frozenset[str]
    latency_s: float = 0.0
    faults: list[FaultRule] = field(default_factory=list)
    log: list[RequestRecord] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    _windows: dict[str, list[SlidingWindow]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._windows = {
            provider: [SlidingWindow(rule) for rule in rules]
            for provider, rules in self.limits.items()
        }

    def over_limit(self, provider: str) -> tuple[float, WindowRule] | None:
        """(seconds to wait, the rule hit) when this request is over a published limit."""
        now = time.monotonic()
        for window in self._windows.get(provider, []):
            wait = window.admit(now)
            if wait is not None:
                return wait, window.rule
        return None

    def take_faults(self, provider: str, symbol: str | None) -> tuple[float, FaultRule | None]:
        """Consume the faults this request triggers: total added latency, and the first
        non-latency fault (if any) that decides the answer."""
        latency = 0.0
        decisive: FaultRule | None = None
        for rule in list(self.faults):
            if not rule.matches(provider, symbol):
                continue
            if rule.kind == "latency":
                latency += rule.latency_s
            elif decisive is None:
                decisive = rule
            else:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count == 0:
                    self.faults.remove(rule)
        return latency, decisive
