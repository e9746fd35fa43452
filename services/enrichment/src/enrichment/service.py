"""Use cases of the enrichment service: queue identifiers that need an answer, drain the
queue through OpenFIGI, map identifiers cache-first, refresh stale answers, import legacy
caches, and record answers in the temporal cache with their events."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient, OpenFigiConfigurationError, OpenFigiError
from enrichment.domain.mapping import (
    FigiListing,
    MappingJob,
    MappingResult,
    MappingStatus,
    filters_from_key,
)
from secmaster_common.breaker import CircuitOpenError
from secmaster_common.db.uow import UnitOfWork, outbox_row
from secmaster_common.events import IdType, SecurityMapped
from secmaster_common.events.envelope import new_envelope
from secmaster_common.logging import get_logger

PRODUCER = "enrichment"
log = get_logger(__name__)

# Contract id types -> OpenFIGI idType (specs/openfigi.md, section on idType values).
OPENFIGI_ID_TYPES = {
    "ISIN": "ID_ISIN",
    "CUSIP": "ID_CUSIP",
    "SEDOL": "ID_SEDOL",
    "FIGI": "ID_BB_GLOBAL",
    "TICKER": "TICKER",
}
_CONTRACT_ID_TYPES = {v: k for k, v in OPENFIGI_ID_TYPES.items()}
_EVENT_ID_TYPES = frozenset(get_args(IdType))
# Preference when a holding carries several identifiers: the most specific first.
MAPPING_PREFERENCE = ("FIGI", "ISIN", "CUSIP", "SEDOL", "TICKER")
# Cache lookups go to Postgres in chunks this big (one round trip each); small enough that
# converting a chunk never holds the event loop long while OpenFIGI batches are due.
LOOKUP_CHUNK = 2_000

# Transactions recording OpenFIGI answers at once (each holds one pooled connection).
WRITERS = 3

CacheKey = tuple[str, str, str]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CachePolicy:
    negative_ttl: dt.timedelta = dt.timedelta(days=60)
    positive_ttl: dt.timedelta = dt.timedelta(days=30)


def openfigi_id_type(id_type: str) -> str:
    """The OpenFIGI idType of a cache/contract id type (ISIN -> ID_ISIN); other OpenFIGI
    idTypes (ID_WERTPAPIER, ...) are stored under their own name."""
    return OPENFIGI_ID_TYPES.get(id_type, id_type)


def cache_id_type(openfigi_type: str) -> str:
    """The id type a job's answer is cached under: the contract name when there is one."""
    return _CONTRACT_ID_TYPES.get(openfigi_type, openfigi_type)


def job_for(id_type: str, id_value: str, filters: dict[str, object] | None = None) -> MappingJob:
    return MappingJob.from_filters(openfigi_id_type(id_type), id_value, filters or {})


def cache_key(job: MappingJob) -> CacheKey:
    return (cache_id_type(job.id_type), job.id_value, job.filter_key)


def preferred_identifier(identifiers: dict[str, str]) -> tuple[str, str] | None:
    for id_type in MAPPING_PREFERENCE:
        if identifiers.get(id_type):
            return id_type, identifiers[id_type]
    return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class IdentifierAnswer:
    """What we know about one job: from the cache (`cached`) or fresh from OpenFIGI."""

    job: MappingJob
    status: MappingStatus
    primary: FigiListing | None
    listings: int
    message: str | None
    cached: bool

    @classmethod
    def from_result(cls, result: MappingResult) -> IdentifierAnswer:
        return cls(
            job=result.job,
            status=result.status,
            primary=result.primary_listing(),
            listings=len(result.listings),
            message=result.message,
            cached=False,
        )

    @classmethod
    def from_cache(cls, job: MappingJob, row: cache.CachedMapping) -> IdentifierAnswer:
        if row.has_no_results:
            return cls(job, MappingStatus.NOT_FOUND, None, 0, "No identifier found.", True)
        primary = FigiListing(
            figi=row.figi or "",
            name=row.name,
            ticker=row.ticker,
            exch_code=row.exch_code,
            composite_figi=row.composite_figi,
            security_type=row.security_type,
            market_sector=row.market_sector,
            share_class_figi=row.share_class_figi,
            security_type2=row.security_type2,
        )
        return cls(job, MappingStatus.MAPPED, primary, row.listings, None, True)


async def request_mappings(
    *,
    uow: UnitOfWork,
    refs: Sequence[tuple[str, str, dict[str, object]]],
    correlation_id: str | None,
    policy: CachePolicy,
    now: dt.datetime,
) -> dict[str, int]:
    """Queue every (id_type, id_value, filters) whose cached answer is missing or stale.
    Runs inside the caller's unit of work (with its inbox claim)."""
    jobs = {}
    for id_type, id_value, filters in refs:
        job = job_for(id_type, id_value, filters)
        jobs[(id_type, id_value, job.filter_key)] = job
    cached = await cache.current(uow.conn, list(jobs))
    due = [
        key
        for key in jobs
        if key not in cached
        or not cached[key].is_fresh(
            now, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl
        )
    ]
    queued = await cache.enqueue(
        uow.conn,
        [
            {
                "id_type": k[0],
                "id_value": k[1],
                "filter_key": k[2],
                "job": jobs[k].filters(),
                "correlation_id": correlation_id,
            }
            for k in due
        ],
    )
    return {"identifiers": len(jobs), "cache_hits": len(jobs) - len(due), "queued": queued}


def _listing_dict(listing: FigiListing) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(listing).items() if v is not None}


def _mapping_values(primary: FigiListing, listings: int) -> dict[str, Any]:
    return {
        "ticker": primary.ticker,
        "figi": primary.figi,
        "composite_figi": primary.composite_figi,
        "share_class_figi": primary.share_class_figi,
        "exch_code": primary.exch_code,
        "security_type": primary.security_type,
        "security_type2": primary.security_type2,
        "market_sector": primary.market_sector,
        "name": primary.name,
        "listings": listings,
    }


async def record_results(
    *,
    uow: UnitOfWork,
    results: Sequence[MappingResult],
    today: dt.date,
    now: dt.datetime,
    correlation_id: str | None,
    only_new: bool = False,
) -> list[SecurityMapped]:
    """Apply answers to the cache with history, and publish what changed: a new mapping, a
    changed ticker (old row closed on `today`, new row opened), or a new negative.

    `error` answers (INVALID) say nothing about the identifier and are never written.
    With `only_new`, identifiers that already have a current row are left alone (imports).
    """
    latest: dict[CacheKey, MappingResult] = {}
    for result in results:
        if result.status is not MappingStatus.INVALID:
            latest[cache_key(result.job)] = result
    if not latest:
        return []
    keys = list(latest)
    await cache.lock_keys(uow.conn, keys)
    prev_rows = await cache.current(uow.conn, keys)
    closes: list[CacheKey] = []
    inserts: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    listings: list[tuple[CacheKey, dict[str, Any]]] = []
    events: list[tuple[str, SecurityMapped]] = []
    for key, result in latest.items():
        prev = prev_rows.get(key)
        if only_new and prev is not None:
            continue
        base = {"id_type": key[0], "id_value": key[1], "filter_key": key[2]}
        if result.status is MappingStatus.MAPPED:
            primary = result.primary_listing()
            assert primary is not None  # a mapped result has at least one listing
            values = _mapping_values(primary, len(result.listings))
            listings.extend((key, _listing_dict(x)) for x in result.listings)
            row = {**base, **values, "has_no_results": False, "last_fetched_date": now}
            if prev is not None and not prev.has_no_results and prev.ticker == primary.ticker:
                touches.append(row)
                continue
            status: Literal["mapped", "ticker_changed"] = (
                "ticker_changed" if prev is not None and not prev.has_no_results else "mapped"
            )
            event = SecurityMapped(
                status=status,
                id_type=_event_id_type(key[0]),
                id_value=key[1],
                previous_ticker=prev.ticker if prev is not None and status != "mapped" else None,
                **values,
            )
        else:
            row = {**base, "has_no_results": True, "last_fetched_date": now}
            if prev is not None and prev.has_no_results:
                touches.append(row)
                continue
            event = SecurityMapped(
                status="not_found", id_type=_event_id_type(key[0]), id_value=key[1]
            )
        if prev is not None:
            closes.append(key)
        inserts.append({**row, "start_date": today})
        if key[0] in _EVENT_ID_TYPES:  # other OpenFIGI idTypes have no contract id type
            events.append((key[1], event))
    await cache.close_many(uow.conn, closes, end=today)
    await cache.insert_many(uow.conn, inserts)
    await cache.touch_many(uow.conn, touches)
    await cache.save_listings_many(uow.conn, listings)
    await uow.add_outbox_rows(
        [
            outbox_row(
                new_envelope(e, producer=PRODUCER, correlation_id=correlation_id), key=id_value
            )
            for id_value, e in events
        ]
    )
    return [e for _, e in events]


def _event_id_type(id_type: str) -> IdType:
    return id_type if id_type in _EVENT_ID_TYPES else "OTHER"  # type: ignore[return-value]


async def record_result(
    *,
    uow: UnitOfWork,
    result: MappingResult,
    today: dt.date,
    now: dt.datetime,
    correlation_id: str | None,
) -> SecurityMapped | None:
    """`record_results` for one answer."""
    events = await record_results(
        uow=uow, results=[result], today=today, now=now, correlation_id=correlation_id
    )
    return events[0] if events else None


async def cached_answers(
    *, engine: AsyncEngine, jobs: Sequence[MappingJob]
) -> dict[CacheKey, cache.CachedMapping]:
    """Current cache rows for `jobs`, fresh or not."""
    keys = list(dict.fromkeys(cache_key(j) for j in jobs))
    found: dict[CacheKey, cache.CachedMapping] = {}
    async with engine.connect() as conn:
        for i in range(0, len(keys), LOOKUP_CHUNK):
            found.update(await cache.current(conn, keys[i : i + LOOKUP_CHUNK]))
    return found


class _BatchFetcher:
    """Sends request-sized batches to OpenFIGI as they are submitted (at most `concurrency`
    in flight; the limiter decides when each leaves) and records each answered batch in
    its own transaction, so answers are kept even if a later batch fails and database work
    overlaps the rate limiter's waits."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        client: OpenFigiClient,
        clock: Callable[[], dt.datetime],
        correlation_id: str | None,
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock
        self.correlation_id = correlation_id
        self.progress = progress
        self.answered: dict[MappingJob, MappingResult] = {}
        self.submitted = 0
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._writes = asyncio.Semaphore(WRITERS)
        self._tasks: list[asyncio.Future[None]] = []

    def submit(self, batch: list[MappingJob]) -> None:
        self.submitted += len(batch)
        self._tasks.append(asyncio.ensure_future(self._run(batch)))

    async def _run(self, batch: list[MappingJob]) -> None:
        async with self._gate:
            results = await self.client.map(batch)
        # Recording happens outside the request gate (a slow write must not hold back the
        # next request) and under its own small bound (the connection pool is shared with
        # the limiter).
        async with self._writes:
            now = self.clock()
            async with UnitOfWork(self.engine, producer=PRODUCER) as uow:
                await record_results(
                    uow=uow, results=results, today=now.date(), now=now,
                    correlation_id=self.correlation_id,
                )  # fmt: skip
                await uow.commit()
        self.answered.update((r.job, r) for r in results)
        if self.progress is not None:
            self.progress("openfigi", len(self.answered), self.submitted)

    async def wait(self) -> dict[MappingJob, MappingResult]:
        """Every submitted batch's results; the first failure cancels the rest and raises."""
        try:
            await asyncio.gather(*self._tasks)
        except BaseException:
            await self.cancel()
            raise
        return self.answered

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def fetch_and_record(
    *,
    engine: AsyncEngine,
    client: OpenFigiClient,
    jobs: Sequence[MappingJob],
    clock: Callable[[], dt.datetime] = _utcnow,
    correlation_id: str | None = None,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> dict[MappingJob, MappingResult]:
    """Ask OpenFIGI about `jobs` one request-sized batch at a time, recording each batch in
    the cache as soon as it is answered. Raises what the client raises."""
    fetcher = _BatchFetcher(
        engine=engine, client=client, clock=clock, correlation_id=correlation_id,
        concurrency=concurrency, progress=progress,
    )  # fmt: skip
    unique = list(dict.fromkeys(jobs))
    size = client.batch_size
    for i in range(0, len(unique), size):
        fetcher.submit(unique[i : i + size])
    return await fetcher.wait()


async def map_identifiers(
    *,
    engine: AsyncEngine,
    client: OpenFigiClient,
    jobs: Sequence[MappingJob],
    policy: CachePolicy,
    clock: Callable[[], dt.datetime] = _utcnow,
    progress: Progress | None = None,
    concurrency: int = 8,
) -> list[IdentifierAnswer]:
    """Answer every job, the i-th answer for the i-th job: fresh cache rows first, the rest
    from OpenFIGI (recorded in the cache as they arrive; `error` answers are returned but
    never cached).

    The cache is read in chunks and every full batch of misses is sent at once, so the
    lookups of later chunks overlap the rate limiter's waits. `concurrency` bounds the
    OpenFIGI batches in flight; the limiter alone decides when each is sent.
    """
    keys = [cache_key(j) for j in jobs]
    unique = dict(zip(keys, jobs, strict=True))
    order = list(unique)
    fetcher = _BatchFetcher(
        engine=engine, client=client, clock=clock, correlation_id=None,
        concurrency=concurrency, progress=progress,
    )  # fmt: skip
    hits: dict[CacheKey, IdentifierAnswer] = {}
    pending: list[MappingJob] = []
    size = client.batch_size
    try:
        async with engine.connect() as conn:
            # A small first chunk gets the first requests out early.
            bounds = [0, min(len(order), 500)]
            while bounds[-1] < len(order):
                bounds.append(min(len(order), bounds[-1] + LOOKUP_CHUNK))
            for lo, hi in itertools.pairwise(bounds):
                chunk = order[lo:hi]
                found = await cache.current(conn, chunk)
                # Commit so this connection holds no snapshot while batches are in flight.
                await conn.commit()
                now = clock()
                for key in chunk:
                    row = found.get(key)
                    if row is not None and row.is_fresh(
                        now, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl
                    ):
                        hits[key] = IdentifierAnswer.from_cache(unique[key], row)
                    else:
                        pending.append(unique[key])
                while len(pending) >= size:
                    fetcher.submit(pending[:size])
                    pending = pending[size:]
        if pending:
            fetcher.submit(pending)
        if progress is not None:
            progress("cache", len(hits), len(order))
        fetched = await fetcher.wait()
    except BaseException:
        await fetcher.cancel()
        raise
    return [
        hits[key] if key in hits else IdentifierAnswer.from_result(fetched[job])
        for key, job in zip(keys, jobs, strict=True)
    ]


async def refresh_stale(
    *,
    engine: AsyncEngine,
    client: OpenFigiClient,
    policy: CachePolicy,
    clock: Callable[[], dt.datetime] = _utcnow,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Ask OpenFIGI again about every current row older than its TTL (negatives after
    `negative_ttl`, mappings after `positive_ttl`) and record the answers."""
    async with engine.connect() as conn:
        rows = await cache.stale(
            conn,
            now=clock(),
            negative_ttl=policy.negative_ttl,
            positive_ttl=policy.positive_ttl,
            limit=limit,
        )
    jobs = [job_for(r.id_type, r.id_value, filters_from_key(r.filter_key)) for r in rows]
    before = {cache_key(j): r for j, r in zip(jobs, rows, strict=True)}
    results = await fetch_and_record(
        engine=engine, client=client, jobs=jobs, clock=clock, progress=progress
    )
    counts = {"stale": len(jobs), "mapped": 0, "not_found": 0, "invalid": 0, "ticker_changed": 0}
    for job, result in results.items():
        counts[result.status.value] += 1
        primary = result.primary_listing()
        old = before[cache_key(job)]
        if primary is not None and not old.has_no_results and old.ticker != primary.ticker:
            counts["ticker_changed"] += 1
    return counts


async def import_answers(
    *,
    engine: AsyncEngine,
    results: Sequence[MappingResult],
    fetched_at: dt.datetime,
    chunk: int = 1000,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Add answers from elsewhere (a legacy cache) for identifiers we hold nothing for; our
    own current rows always win. They age from `fetched_at` like any answer."""
    added = 0
    for i in range(0, len(results), chunk):
        part = results[i : i + chunk]
        async with UnitOfWork(engine, producer=PRODUCER) as uow:
            before = await cache.current(uow.conn, [cache_key(r.job) for r in part])
            await record_results(
                uow=uow, results=part, today=fetched_at.date(), now=fetched_at,
                correlation_id=None, only_new=True,
            )  # fmt: skip
            await uow.commit()
        added += len({cache_key(r.job) for r in part} - set(before))
        if progress is not None:
            progress("import", min(i + chunk, len(results)), len(results))
    return {"answers": len(results), "added": added, "already_cached": len(results) - added}


async def drain_queue_once(
    *,
    engine: AsyncEngine,
    client: OpenFigiClient,
    limit: int,
    lease_s: float,
    clock: Callable[[], dt.datetime] | None = None,
    retry_delay_s: float = 5.0,
) -> int:
    """Map one leased batch from the durable queue. Returns how many rows were answered.

    If OpenFIGI cannot answer the rows go back to the queue: due when the breaker may let
    a probe through (open breaker) or after `retry_delay_s` (outage, rate limit). Nothing
    is lost.
    """
    now_fn = clock or _utcnow
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        leased = await cache.claim_due(uow.conn, limit=limit, lease_s=lease_s)
        await uow.commit()
    if not leased:
        return 0
    keys = [(r["id_type"], r["id_value"], r["filter_key"]) for r in leased]
    jobs = [job_for(r["id_type"], r["id_value"], r["job"]) for r in leased]
    try:
        results = await client.map(jobs)
    except CircuitOpenError as exc:
        await _release(engine, keys, delay_s=max(exc.retry_in_s, 0.5), error=str(exc))
        return 0
    except OpenFigiConfigurationError:
        await _release(engine, keys, delay_s=60.0, error="OpenFIGI rejected the API key (401)")
        raise
    except (OpenFigiError, OSError) as exc:
        await _release(engine, keys, delay_s=retry_delay_s, error=repr(exc))
        log.warning(
            "openfigi batch failed; identifiers stay queued", jobs=len(jobs), error=repr(exc)
        )
        return 0
    now = now_fn()
    answered: list[CacheKey] = []
    invalid: list[CacheKey] = []
    by_correlation: dict[str | None, list[MappingResult]] = {}
    for row, key, result in zip(leased, keys, results, strict=True):
        if result.status is MappingStatus.INVALID:
            # An error answer says nothing about the identifier: never cache it as a
            # negative; park it (visible in the queue with its error) instead.
            invalid.append(key)
            continue
        by_correlation.setdefault(row["correlation_id"], []).append(result)
        answered.append(key)
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        for correlation_id, part in by_correlation.items():
            await record_results(
                uow=uow, results=part, today=now.date(), now=now, correlation_id=correlation_id
            )
        await cache.dequeue(uow.conn, answered)
        if invalid:
            await cache.release(uow.conn, invalid, delay_s=365 * 86400.0, error=cache.PARKED_ERROR)
        await uow.commit()
    return len(answered)


async def _release(
    engine: AsyncEngine, keys: list[CacheKey], *, delay_s: float, error: str
) -> None:
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        await cache.release(uow.conn, keys, delay_s=delay_s, error=error)
        await uow.commit()
