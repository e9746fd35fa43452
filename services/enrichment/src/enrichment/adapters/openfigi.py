"""Async OpenFIGI v3 client: batched `/v3/mapping` at the published window limits, with
answers aligned to jobs, 413 splitting, 429 back-off, 5xx/timeout retries, a circuit
breaker, and `/v3/search`, `/v3/filter` (paged by `next`) and `/v3/mapping/values`."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email.utils
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import stamina
import structlog

from enrichment.domain import FigiListing, MappingJob, MappingResult
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.limiter import RateLimiter, WindowLimiter

DEFAULT_BASE_URL = "https://api.openfigi.com"
API_KEY_HEADER = "X-OPENFIGI-APIKEY"

log = structlog.get_logger(__name__)


class OpenFigiError(Exception):
    """Base of everything this client raises about OpenFIGI."""


class OpenFigiConfigurationError(OpenFigiError):
    """OpenFIGI refused our credentials (401): retrying cannot help, fix the configuration."""


class OpenFigiUnavailable(OpenFigiError):
    """A 5xx, a timeout or a connection failure: transient, retried with back-off."""


class OpenFigiRateLimited(OpenFigiError):
    """Still answered 429 after every allowed wait."""


class OpenFigiRequestError(OpenFigiError):
    """OpenFIGI rejected the request itself (4xx other than 401/413/429, or an `error` body
    on search/filter): a bug or bad input on our side, never retried."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"OpenFIGI answered {status}: {body[:200]}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded, jittered exponential back-off for 5xx and timeouts (stamina)."""

    attempts: int = 5
    wait_initial_s: float = 0.5
    wait_max_s: float = 20.0
    jitter_s: float = 1.0
    timeout_s: float = 300.0
    # 429s are not retried by stamina: each one waits exactly what the server asks.
    max_rate_limited: int = 5


@dataclass(frozen=True, slots=True)
class SearchPage:
    listings: tuple[FigiListing, ...]
    next: str | None
    total: int | None


@dataclass(frozen=True, slots=True)
class FilterResult:
    listings: tuple[FigiListing, ...]
    total: int | None


def default_mapping_limiter(*, keyed: bool) -> WindowLimiter:
    """The published /v3/mapping (+ /values) limit: 25 per 6 s with a key, 25 per 60 s
    without; the margin absorbs network jitter between our clock and the server's."""
    return WindowLimiter(25, 6.0, margin_s=0.1) if keyed else WindowLimiter(25, 60.0, margin_s=0.5)


def default_search_limiter(*, keyed: bool) -> WindowLimiter:
    """/v3/search and /v3/filter: 20 per 60 s with a key, 5 per 60 s without."""
    return WindowLimiter(20 if keyed else 5, 60.0, margin_s=0.5)


class _Slot:
    __slots__ = ("answered", "answered_at")

    def __init__(self) -> None:
        self.answered = asyncio.Event()
        self.answered_at = 0.0


class AnswerAnchoredGate:
    """Holds request k+N until request k was *answered* at least one window (+margin) ago.

    A limiter that counts from admission lets k+N leave exactly T after k, but the server
    counts arrivals, and a request's arrival can lag its admission (the first requests of a
    burst open TLS connections): measured against the emulator, k arrived 0.5 s late and k+N
    got a 429. Arrival is never later than the answer, so anchoring on the answer holds the
    window whatever the latency, for one round trip per window.
    """

    def __init__(self, max_calls: int, window_s: float, margin_s: float = 0.0) -> None:
        self.max_calls = max_calls
        self.window_s = window_s
        self.margin_s = margin_s
        self._slots: collections.deque[_Slot] = collections.deque(maxlen=max_calls)
        self._lock = asyncio.Lock()

    async def enter(self) -> _Slot:
        async with self._lock:  # FIFO, like WindowLimiter
            while len(self._slots) == self.max_calls:
                oldest = self._slots[0]
                await oldest.answered.wait()
                wait = oldest.answered_at + self.window_s + self.margin_s - time.monotonic()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            slot = _Slot()
            self._slots.append(slot)
            return slot

    @staticmethod
    def answered(slot: _Slot) -> None:
        if not slot.answered.is_set():
            slot.answered_at = time.monotonic()
            slot.answered.set()

    @classmethod
    def matching(cls, limiter: RateLimiter) -> AnswerAnchoredGate | None:
        """A gate with the limiter's own N, T and margin, when it exposes them."""
        max_calls = getattr(limiter, "max_calls", None)
        window_s = getattr(limiter, "window_s", None)
        if not isinstance(max_calls, int) or not isinstance(window_s, int | float):
            return None
        margin = getattr(limiter, "margin_s", 0.0)
        return cls(
            max_calls, float(window_s), float(margin) if isinstance(margin, int | float) else 0.0
        )


def _admission_of(limiter: RateLimiter) -> Callable[[], AbstractAsyncContextManager[None]] | None:
    """The limiter's answer-anchored `admission()` context manager, when it has one."""
    admission = getattr(limiter, "admission", None)
    return admission if callable(admission) else None


def job_payload(job: MappingJob) -> dict[str, object]:
    return {"idType": job.id_type, "idValue": job.id_value, **job.filters()}


def listing_from_row(row: Mapping[str, Any]) -> FigiListing:
    return FigiListing(
        figi=str(row["figi"]),
        name=row.get("name"),
        ticker=row.get("ticker"),
        exch_code=row.get("exchCode"),
        composite_figi=row.get("compositeFIGI"),
        security_type=row.get("securityType"),
        market_sector=row.get("marketSector"),
        share_class_figi=row.get("shareClassFIGI"),
        security_type2=row.get("securityType2"),
        security_description=row.get("securityDescription"),
        metadata=row.get("metadata"),
    )


def result_from_answer(job: MappingJob, answer: object) -> MappingResult:
    """Decode one element of a /v3/mapping answer. `warning` is a negative answer, `error`
    is not (malformed value, unknown idType, or a failure on their side)."""
    if not isinstance(answer, Mapping):
        return MappingResult.invalid(job, f"unrecognised answer: {answer!r:.200}")
    data = answer.get("data")
    if isinstance(data, list) and data:
        return MappingResult.mapped(job, [listing_from_row(row) for row in data])
    if "error" in answer:
        return MappingResult.invalid(job, str(answer["error"]))
    if "warning" in answer:
        return MappingResult.not_found(job, str(answer["warning"]))
    if isinstance(data, list):
        return MappingResult.not_found(job, "No identifier found.")
    return MappingResult.invalid(job, f"unrecognised answer: {dict(answer)!r:.200}")


def _seconds_from_header(value: str | None) -> float | None:
    """`retry-after` is delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class OpenFigiClient:
    """One client per API key. The limiters and the breaker are injectable so a budget
    shared by every replica (a Postgres-backed limiter) can replace the in-process one."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        limiter: RateLimiter | None = None,
        search_limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        http: httpx.AsyncClient | None = None,
        batch_size: int | None = None,
        timeout: float = 30.0,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        anchor_on_answers: bool = True,
        owns_http: bool | None = None,
    ) -> None:
        keyed = bool(api_key)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self.limiter: RateLimiter = limiter or default_mapping_limiter(keyed=keyed)
        self.search_limiter: RateLimiter = search_limiter or default_search_limiter(keyed=keyed)
        # In-process guard against arrival lag (see AnswerAnchoredGate); the limiters keep
        # the budget shared with other processes.
        # A limiter with its own `admission()` (the Postgres-shared one) anchors on answers
        # across every replica, so it needs no in-process gate.
        self._gates: dict[int, AnswerAnchoredGate | None] = {
            id(lim): AnswerAnchoredGate.matching(lim)
            if anchor_on_answers and _admission_of(lim) is None
            else None
            for lim in (self.limiter, self.search_limiter)
        }
        self.breaker = breaker
        # A client handed in is closed by its owner, unless ownership is handed over too.
        self._owns_http = http is None if owns_http is None else owns_http
        self._http = http or httpx.AsyncClient(timeout=timeout)
        # 100 jobs per request with a key, 10 without (specs/openfigi.md section 2).
        self.batch_size = batch_size or (100 if keyed else 10)
        self._timeout = timeout
        self._concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the key
        return f"OpenFigiClient({self.base_url!r}, keyed={self._api_key is not None})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> OpenFigiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- mapping -----------------------------------------------------------------------

    async def map(self, jobs: Sequence[MappingJob]) -> list[MappingResult]:
        """Map every job; the i-th result answers the i-th job. Identical jobs are asked
        once. Raises OpenFigiConfigurationError (401), OpenFigiUnavailable, OpenFigiRateLimited
        or CircuitOpenError when no answer can be had; nothing is returned half-filled."""
        unique = list(dict.fromkeys(jobs))
        batches = [unique[i : i + self.batch_size] for i in range(0, len(unique), self.batch_size)]
        gate = asyncio.Semaphore(self._concurrency)

        async def run(batch: list[MappingJob]) -> list[MappingResult]:
            async with gate:
                return await self._map_batch(batch)

        tasks = [asyncio.ensure_future(run(batch)) for batch in batches]
        try:
            done = await asyncio.gather(*tasks)
        except BaseException:
            # One batch failing (401, open breaker) stops the others instead of leaving
            # them to spend the budget for answers nobody will read.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        answered = {result.job: result for results in done for result in results}
        return [answered[job] for job in jobs]

    async def _map_batch(self, batch: list[MappingJob]) -> list[MappingResult]:
        response = await self._send(
            "POST", "/v3/mapping", [job_payload(j) for j in batch], self.limiter
        )
        if response.status_code == 413:
            if len(batch) == 1:
                raise OpenFigiRequestError(413, response.text)
            # The jobs ceiling is lower than we thought (10 vs 5 is disputed without a
            # key): remember the smaller size and split this batch.
            half = (len(batch) + 1) // 2
            self.batch_size = min(self.batch_size, half)
            log.warning("openfigi.batch_too_large", jobs=len(batch), new_batch_size=half)
            return await self._map_batch(batch[:half]) + await self._map_batch(batch[half:])
        answers = response.json()
        if not isinstance(answers, list) or len(answers) != len(batch):
            raise OpenFigiRequestError(
                response.status_code,
                f"expected {len(batch)} answers, got {response.text[:200]}",
            )
        return [result_from_answer(job, answer) for job, answer in zip(batch, answers, strict=True)]

    async def mapping_values(self, key: str) -> list[str]:
        """`GET /v3/mapping/values/{key}` (idType, exchCode, micCode, currency, ...); it
        spends the mapping budget, which the two endpoints share."""
        response = await self._send("GET", f"/v3/mapping/values/{key}", None, self.limiter)
        return [str(v) for v in response.json()["values"]]

    # ---- search / filter ---------------------------------------------------------------

    async def iter_pages(
        self,
        endpoint: Literal["search", "filter"],
        query: str | None = None,
        filters: Mapping[str, object] | None = None,
        *,
        max_pages: int | None = None,
    ) -> AsyncIterator[SearchPage]:
        """Yield result pages, following `next` (sent back as `start`) until it is absent."""
        body: dict[str, object] = dict(filters or {})
        if query is not None:
            body["query"] = query
        pages = 0
        while True:
            response = await self._send("POST", f"/v3/{endpoint}", body, self.search_limiter)
            payload = response.json()
            if "error" in payload:
                raise OpenFigiRequestError(response.status_code, str(payload["error"]))
            next_token = payload.get("next")
            yield SearchPage(
                listings=tuple(listing_from_row(row) for row in payload.get("data", [])),
                next=next_token,
                total=payload.get("total"),
            )
            pages += 1
            if not next_token or (max_pages is not None and pages >= max_pages):
                return
            body = {**body, "start": next_token}

    async def search(
        self,
        query: str,
        filters: Mapping[str, object] | None = None,
        *,
        max_pages: int | None = None,
    ) -> list[FigiListing]:
        out: list[FigiListing] = []
        async for page in self.iter_pages("search", query, filters, max_pages=max_pages):
            out.extend(page.listings)
        return out

    async def filter(
        self,
        query: str | None = None,
        filters: Mapping[str, object] | None = None,
        *,
        max_pages: int | None = None,
    ) -> FilterResult:
        out: list[FigiListing] = []
        total: int | None = None
        async for page in self.iter_pages("filter", query, filters, max_pages=max_pages):
            out.extend(page.listings)
            total = page.total if page.total is not None else total
        return FilterResult(tuple(out), total)

    # ---- transport ---------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, body: object, limiter: RateLimiter
    ) -> httpx.Response:
        policy = self.retry
        async for attempt in stamina.retry_context(
            on=OpenFigiUnavailable,
            attempts=policy.attempts,
            timeout=policy.timeout_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.jitter_s,
        ):
            with attempt:
                return await self._send_once(method, path, body, limiter)
        raise AssertionError("stamina.retry_context always returns or raises")

    async def _send_once(
        self, method: str, path: str, body: object, limiter: RateLimiter
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers[API_KEY_HEADER] = self._api_key
        for _ in range(self.retry.max_rate_limited + 1):
            if self.breaker is not None:
                self.breaker.before_call()
            gate = self._gates.get(id(limiter))
            slot = await gate.enter() if gate is not None else None
            admission = _admission_of(limiter)
            try:
                if admission is not None:
                    async with admission():
                        response = await self._request(method, path, body, headers)
                else:
                    await limiter.acquire()
                    response = await self._request(method, path, body, headers)
            except httpx.TransportError as exc:  # timeouts, refused and reset connections
                self._failed()
                raise OpenFigiUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
            finally:
                if slot is not None:
                    AnswerAnchoredGate.answered(slot)
            status = response.status_code
            if status == 429:
                self._failed()
                # The 429 body is text/html ("Too many requests, please try again
                # later."), so it is never parsed as JSON.
                wait = self._rate_limit_wait(response, limiter)
                penalize = getattr(limiter, "penalize", None)
                if callable(penalize):
                    # The in-process limiter's penalize is sync, the Postgres one's async.
                    pending = penalize(wait)
                    if inspect.isawaitable(pending):
                        await pending
                log.warning("openfigi.rate_limited", path=path, wait_s=wait)
                await self._sleep(wait)
                continue
            if status >= 500:
                self._failed()
                raise OpenFigiUnavailable(f"{method} {path}: HTTP {status}")
            self._succeeded()
            if status == 401:
                raise OpenFigiConfigurationError(
                    "OpenFIGI rejected the API key (401 Invalid API key.): set a valid key "
                    "with --api-key or OPENFIGI_API_KEY, or run without one at the lower "
                    "anonymous limits"
                )
            if status == 200 or (status == 413 and path == "/v3/mapping"):
                return response
            raise OpenFigiRequestError(status, response.text)
        raise OpenFigiRateLimited(
            f"{method} {path}: still 429 after {self.retry.max_rate_limited} waits"
        )

    async def _request(
        self, method: str, path: str, body: object, headers: dict[str, str]
    ) -> httpx.Response:
        return await self._http.request(
            method, self.base_url + path, json=body, headers=headers, timeout=self._timeout
        )

    @staticmethod
    def _rate_limit_wait(response: httpx.Response, limiter: RateLimiter) -> float:
        """`retry-after` first (in 2023 it was 60 while the window had 42 s left: it is the
        server's word), then `ratelimit-reset`, then one whole window of our limiter."""
        for name in ("retry-after", "ratelimit-reset"):
            seconds = _seconds_from_header(response.headers.get(name))
            if seconds is not None:
                return seconds
        return float(getattr(limiter, "window_s", 60.0))

    def _failed(self) -> None:
        if self.breaker is not None:
            self.breaker.record_failure()

    def _succeeded(self) -> None:
        if self.breaker is not None:
            self.breaker.record_success()
