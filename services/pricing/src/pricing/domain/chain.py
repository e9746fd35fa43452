"""Run-time failover across price providers: a symbol moves to the next provider on an
error, a 429, empty or invalid data, and the provider whose bars were kept is recorded.

OpenBB only falls back at provider *selection* (spec providers.md section 8); this chain
fails over per symbol at run time and can reorder itself by observed health.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from pricing.domain.bars import FetchResult, Interval, PriceBar, PriceBasis
from pricing.domain.errors import EmptyData, InvalidData, ProviderError, RateLimited
from pricing.domain.validation import RejectedBar, SeriesQuality


class PriceSource(Protocol):
    """What the chain needs from a provider adapter."""

    @property
    def name(self) -> str: ...

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult: ...


class Outcome(enum.StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    EMPTY = "empty"
    INVALID = "invalid"
    BASIS_MISMATCH = "basis_mismatch"


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: Outcome
    detail: str
    latency_s: float
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class ChainResult:
    """What the chain got for one symbol: the kept provider's result (None if every
    provider failed), its validation, and every attempt in order. `set_aside` is the
    first good result passed over because its price basis was not the one asked for."""

    symbol: str
    result: FetchResult | None
    quality: SeriesQuality | None
    attempts: tuple[Attempt, ...]
    set_aside: FetchResult | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def provider(self) -> str | None:
        return self.result.provider if self.result else None

    @property
    def bars(self) -> tuple[PriceBar, ...]:
        if self.quality is not None:
            return self.quality.accepted
        return self.result.bars if self.result else ()

    @property
    def rejected(self) -> tuple[RejectedBar, ...]:
        return self.quality.rejected if self.quality else ()


@dataclass
class _Stats:
    calls: int = 0
    successes: int = 0
    latency_ewma_s: float = 0.0


@dataclass
class ProviderHealth:
    """Success rate and latency per provider, as observed by the chain."""

    smoothing: float = 0.2
    _stats: dict[str, _Stats] = field(default_factory=dict)

    def record(self, provider: str, *, ok: bool, latency_s: float) -> None:
        stats = self._stats.setdefault(provider, _Stats())
        stats.calls += 1
        stats.successes += int(ok)
        if stats.calls == 1:
            stats.latency_ewma_s = latency_s
        else:
            stats.latency_ewma_s += self.smoothing * (latency_s - stats.latency_ewma_s)

    def success_rate(self, provider: str) -> float:
        """Laplace-smoothed, so an unseen provider starts at 0.5 rather than 0 or 1."""
        stats = self._stats.get(provider, _Stats())
        return (stats.successes + 1) / (stats.calls + 2)

    def latency_s(self, provider: str) -> float:
        return self._stats.get(provider, _Stats()).latency_ewma_s

    def calls(self, provider: str) -> int:
        return self._stats.get(provider, _Stats()).calls


Validator = Callable[[FetchResult], SeriesQuality]


class ProviderChain:
    """Ordered providers for one asset class; see module docstring.

    `validate` (optional) judges each result: a result with no accepted bar or a score
    below `min_quality` counts as invalid and the next provider is asked. With
    `reorder_by_health`, providers are tried by success rate (in steps of 0.1, so noise
    does not reshuffle them), then lower latency, then the configured order.
    """

    def __init__(
        self,
        providers: Sequence[PriceSource],
        *,
        validate: Validator | None = None,
        min_quality: float = 0.5,
        reorder_by_health: bool = False,
        health: ProviderHealth | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self._providers = list(providers)
        self._validate = validate
        self._min_quality = min_quality
        self._reorder = reorder_by_health
        self.health = health or ProviderHealth()
        self._clock = clock

    def order(self) -> list[PriceSource]:
        if not self._reorder:
            return list(self._providers)
        position = {id(p): i for i, p in enumerate(self._providers)}
        return sorted(
            self._providers,
            key=lambda p: (
                -round(self.health.success_rate(p.name), 1),
                round(self.health.latency_s(p.name), 2),
                position[id(p)],
            ),
        )

    async def fetch(
        self,
        *,
        symbol: str,
        start: date,
        end: date,
        interval: Interval,
        basis: PriceBasis | None = None,
    ) -> ChainResult:
        """The first provider's good result; with `basis`, a good result in another basis
        is passed over (outcome `basis_mismatch`, the provider's health unharmed) and the
        next provider asked, so one instrument's stored series keeps one basis."""
        attempts: list[Attempt] = []
        set_aside: FetchResult | None = None
        for provider in self.order():
            began = self._clock()
            retry_after: float | None = None
            quality: SeriesQuality | None = None
            try:
                result = await provider.fetch(
                    symbol=symbol, start=start, end=end, interval=interval
                )
                if not result.bars:
                    raise EmptyData(provider.name, "no bars in range")
                if self._validate is not None:
                    quality = self._validate(result)
                    if not quality.accepted or quality.score < self._min_quality:
                        raise InvalidData(
                            provider.name,
                            f"quality {quality.score:.2f} below {self._min_quality:.2f} "
                            f"({len(quality.rejected)} bars rejected)",
                        )
            except RateLimited as exc:
                outcome, detail, retry_after = Outcome.RATE_LIMITED, exc.message, exc.retry_after
            except EmptyData as exc:
                outcome, detail = Outcome.EMPTY, exc.message
            except InvalidData as exc:
                outcome, detail = Outcome.INVALID, exc.message
            except ProviderError as exc:
                outcome, detail = Outcome.ERROR, exc.message
            except Exception as exc:  # an adapter bug must not stop the other providers
                outcome, detail = Outcome.ERROR, f"{type(exc).__name__}: {exc}"
            else:
                latency = self._clock() - began
                self.health.record(provider.name, ok=True, latency_s=latency)
                if basis is not None and result.basis is not basis:
                    detail = f"{result.basis.value} prices where {basis.value} are stored"
                    attempts.append(Attempt(provider.name, Outcome.BASIS_MISMATCH, detail, latency))
                    set_aside = set_aside or result
                    continue
                attempts.append(Attempt(provider.name, Outcome.OK, "", latency))
                return ChainResult(symbol, result, quality, tuple(attempts))
            latency = self._clock() - began
            self.health.record(provider.name, ok=False, latency_s=latency)
            attempts.append(Attempt(provider.name, outcome, detail, latency, retry_after))
        return ChainResult(symbol, None, None, tuple(attempts), set_aside)

    async def fetch_many(
        self, *, symbols: Sequence[str], start: date, end: date, interval: Interval
    ) -> dict[str, ChainResult]:
        """Each symbol fails over on its own; one symbol's failure never hides another's bars."""
        return {
            symbol: await self.fetch(symbol=symbol, start=start, end=end, interval=interval)
            for symbol in symbols
        }
