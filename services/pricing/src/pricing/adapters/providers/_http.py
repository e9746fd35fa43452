"""One guarded GET for every HTTP provider: limiter, circuit breaker, timeout, and the
mapping of transport errors, 429s and 5xx to the domain's typed failures; and the base
every HTTP adapter is built on."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pricing.domain.errors import InvalidData, ProviderError, RateLimited
from secmaster_common.breaker import CircuitBreaker, CircuitOpenError
from secmaster_common.limiter import RateLimiter, WindowLimiter

DEFAULT_TIMEOUT_S = 20.0
# Our admission time and the provider's arrival time differ by network jitter; half a
# second of margin keeps a "N per window" budget from being exceeded at the server.
WINDOW_MARGIN_S = 0.5


class CombinedLimiter:
    """Admits a call only when every inner limiter does (e.g. Alpha Vantage's 1/s burst
    and 25/day quota)."""

    def __init__(self, limiters: Sequence[RateLimiter]) -> None:
        self.limiters = list(limiters)

    async def acquire(self) -> None:
        for limiter in self.limiters:
            await limiter.acquire()

    def penalize(self, wait_s: float) -> None:
        for limiter in self.limiters:
            penalize = getattr(limiter, "penalize", None)
            if callable(penalize):
                penalize(wait_s)


def window(max_calls: int, window_s: float) -> WindowLimiter:
    return WindowLimiter(max_calls, window_s, margin_s=WINDOW_MARGIN_S)


def published_limiter(limits: Sequence[tuple[int, float]]) -> RateLimiter:
    """A limiter keeping every published "N calls per window" limit at once."""
    windows = [window(*limit) for limit in limits]
    return windows[0] if len(windows) == 1 else CombinedLimiter(windows)


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or an epoch-seconds
    `X-RateLimit-Reset` (Alpaca), or None when the provider gave no hint."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, parsed.timestamp() - now)
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


class GuardedHttp:
    """GET through one provider's limiter and breaker.

    429 and 5xx and transport failures count against the breaker; any other answer
    (including 4xx, which means the provider is up) counts as a success.
    """

    def __init__(
        self,
        *,
        provider: str,
        client: httpx.AsyncClient,
        limiter: RateLimiter | None,
        breaker: CircuitBreaker,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.provider = provider
        self.client = client
        self.limiter = limiter
        self.breaker = breaker
        self.timeout_s = timeout_s

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            raise ProviderError(self.provider, str(exc)) from exc
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            response = await self.client.get(
                url, params=params, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            self.breaker.record_failure()
            raise ProviderError(self.provider, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 429:
            raise self.rate_limited(
                f"HTTP 429: {response.text[:200]}", retry_after_s(response.headers)
            )
        if response.status_code >= 500:
            self.breaker.record_failure()
            raise ProviderError(
                self.provider,
                f"HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        self.breaker.record_success()
        return response

    def rate_limited(self, message: str, retry_after: float | None) -> RateLimited:
        """Record a rate-limit answer (HTTP 429 or a 200 body saying so) and build the error."""
        self.breaker.record_failure()
        penalize = getattr(self.limiter, "penalize", None)
        if retry_after is not None and callable(penalize):
            penalize(retry_after)
        return RateLimited(self.provider, message, retry_after=retry_after)


def default_breaker(provider: str) -> CircuitBreaker:
    return CircuitBreaker(f"pricing.{provider}", failure_threshold=5, reset_timeout_s=30.0)


def status_error(
    provider: str, response: httpx.Response, detail: str | None = None
) -> ProviderError:
    """The failure for a 4xx answer the provider explained in no typed way."""
    suffix = "" if detail is None else f": {detail}"
    return ProviderError(
        provider, f"HTTP {response.status_code}{suffix}", status=response.status_code
    )


class HttpProvider:
    """What every HTTP adapter holds: its base URL without a trailing slash (default: the
    real provider's), its API key ("" when none) and one GuardedHttp. Subclasses set
    `name`, `default_base_url` and `published_limits`; the latter become the limiter
    unless the caller gives one (a limiter shared across replicas, say)."""

    name: str
    default_base_url: str
    published_limits: tuple[tuple[int, float], ...]

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        api_key: str | None = None,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.api_key = api_key or ""
        self._http = GuardedHttp(
            provider=self.name,
            client=client,
            limiter=limiter if limiter is not None else published_limiter(self.published_limits),
            breaker=breaker or default_breaker(self.name),
        )


def json_body(response: httpx.Response, provider: str) -> Any:
    """The JSON body, or InvalidData when it is not JSON (HTML outage pages come as 200)."""
    try:
        return response.json()
    except ValueError as exc:
        snippet = response.text[:120].replace("\n", " ")
        raise InvalidData(
            provider, f"HTTP {response.status_code} body is not JSON: {snippet!r}"
        ) from exc
