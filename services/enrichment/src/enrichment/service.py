"""Use cases of the enrichment service: queue identifiers that need an answer, drain the
queue through OpenFIGI, map identifiers cache-first, refresh stale answers, import legacy
caches, and record answers in the temporal cache with their events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import gc
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
# Cache rows are read in chunks this big (one round trip each); small enough that
# converting a chunk never holds the event loop long while OpenFIGI batches are due.
LOOKUP_CHUNK = 2_000
# Keys asked "fresh or not?" per round trip (only the misses' positions come back).
MISS_CHUNK = 10_000
FIRST_MISS_CHUNK = 5_000

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
    in flight; the limiter decides when each leaves) and records answered batches as they
    come, so answers are kept even if a later batch fails and database work overlaps the
    rate limiter's waits."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        client: OpenFigiClient,
        clock: Callable[[], dt.datetime],
        correlation_id: str | None,
        concurrency: int,
        progress: Progress | None,
        keep_answers: bool = False,
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock
        self.correlation_id = correlation_id
        self.progress = progress
        self.concurrency = max(1, concurrency)
        self.answered: dict[MappingJob, MappingResult] = {}
        # With `keep_answers`, each result's IdentifierAnswer is made as its batch is
        # recorded (choosing the primary listing of 20,000 results takes 0.2 s, which
        # would otherwise come after the last answer).
        self.answers: dict[MappingJob, IdentifierAnswer] | None = {} if keep_answers else None
        self.submitted = 0
        self._gate = asyncio.Semaphore(self.concurrency)
        self._writes = asyncio.Semaphore(WRITERS)
        self._unrecorded: list[MappingResult] = []
        self._tasks: list[asyncio.Future[None]] = []
        self._finished = 0
        self._progressed = asyncio.Event()

    def submit(self, batch: list[MappingJob]) -> None:
        self.submitted += len(batch)
        self._tasks.append(asyncio.ensure_future(self._run(batch)))

    async def _run(self, batch: list[MappingJob]) -> None:
        try:
            async with self._gate:
                results = await self.client.map(batch)
            self._unrecorded.extend(results)
            # Recording happens outside the request gate (a slow write must not hold back
            # the next request) and under its own small bound (the connection pool is
            # shared with the limiter). Answers that arrived while other batches were being
            # written go together: a window's answers come in a burst, and one transaction
            # for several batches spends less of the event loop the next requests need.
            async with self._writes:
                results, self._unrecorded = self._unrecorded, []
                if not results:
                    return  # a writer before us took ours
                now = self.clock()
                async with UnitOfWork(self.engine, producer=PRODUCER) as uow:
                    await record_results(
                        uow=uow, results=results, today=now.date(), now=now,
                        correlation_id=self.correlation_id,
                    )  # fmt: skip
                    await uow.commit()
            self.answered.update((r.job, r) for r in results)
            if self.answers is not None:
                self.answers.update((r.job, IdentifierAnswer.from_result(r)) for r in results)
            if self.progress is not None:
                self.progress("openfigi", len(self.answered), self.submitted)
        finally:
            self._finished += 1
            self._progressed.set()

    async def first_wave(self) -> None:
        """Return once the first batches that could leave together (up to `concurrency`)
        are answered and recorded, or failed: from then until the next window the event
        loop has time to spare."""
        wave = min(self.concurrency, len(self._tasks))
        while self._finished < wave:
            self._progressed.clear()
            await self._progressed.wait()

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

    The misses are found first (the database says which keys have no fresh row, without
    sending any row back) and every batch of them is sent at once, so a whole window of
    requests leaves together; the hits are read afterwards, while the rate limiter waits.
    `concurrency` bounds the OpenFIGI batches in flight; the limiter alone decides when
    each is sent.
    """
    with _live_objects_frozen() as freeze:
        keys = [cache_key(j) for j in jobs]
        unique = dict(zip(keys, jobs, strict=True))
        order = list(unique)
        fetcher = _BatchFetcher(
            engine=engine, client=client, clock=clock, correlation_id=None,
            concurrency=concurrency, progress=progress, keep_answers=True,
        )  # fmt: skip
        size = client.batch_size
        try:
            missing = await _submit_misses(
                engine=engine, fetcher=fetcher, order=order, unique=unique, size=size,
                policy=policy, now=clock(),
            )  # fmt: skip
            # The hits are read once the first requests are out and answered: reading them
            # holds the event loop, and every request of the first window that leaves late
            # leaves late in every later window too.
            await fetcher.first_wave()
            hits, gone = await _read_hits(
                engine=engine, order=order, unique=unique, missing=missing, policy=policy,
                clock=clock,
            )  # fmt: skip
            freeze()  # the hits' answers too
            # A row cleared or gone stale between the two reads is a miss after all.
            for i in range(0, len(gone), size):
                fetcher.submit(gone[i : i + size])
            if progress is not None:
                progress("cache", len(hits), len(order))
            await fetcher.wait()
        except BaseException:
            await fetcher.cancel()
            raise
    fetched = fetcher.answers
    assert fetched is not None
    return [hits[key] if key in hits else fetched[job] for key, job in zip(keys, jobs, strict=True)]


_freezes_open = 0


@contextlib.contextmanager
def _live_objects_frozen() -> Iterator[Callable[[], None]]:
    """Keep the cycle collector off the objects alive now (and those alive when the
    yielded function is called) until the block ends; new garbage is still collected.

    With 100,000 answers in memory a full collection takes 0.2-0.3 s (measured in
    bench/enrichment), and allocation triggers it while answers are parsed, which is at
    a window boundary: the pause delays a request, and every request after it in the
    same slot (CPython's gc.freeze moves objects to a generation no collection scans;
    unfreeze puts them back in the oldest one)."""
    global _freezes_open
    _freezes_open += 1
    gc.freeze()
    try:
        yield gc.freeze
    finally:
        _freezes_open -= 1
        if _freezes_open == 0:  # concurrent calls: the last one out unfreezes
            gc.unfreeze()


async def _submit_misses(
    *,
    engine: AsyncEngine,
    fetcher: _BatchFetcher,
    order: list[CacheKey],
    unique: dict[CacheKey, MappingJob],
    size: int,
    policy: CachePolicy,
    now: dt.datetime,
) -> set[CacheKey]:
    """Send every key without a fresh cache row to OpenFIGI, a batch as soon as it is full;
    returns those keys.

    The first window's batches are held until there are enough to leave together, and the
    scan waits while they are out: a request of the first window that leaves late leaves
    late in every later window, while the rest of the scan has a window's wait to finish."""
    bounds = [0, min(len(order), FIRST_MISS_CHUNK)]
    while bounds[-1] < len(order):
        bounds.append(min(len(order), bounds[-1] + MISS_CHUNK))
    chunks = list(itertools.pairwise(bounds))
    missing: list[CacheKey] = []

    async def scan(conn: AsyncConnection, lo: int, hi: int) -> None:
        chunk = order[lo:hi]
        positions = await cache.unfresh_positions(
            conn, chunk, negatives_since=now - policy.negative_ttl,
            positives_since=now - policy.positive_ttl,
        )  # fmt: skip
        # Commit so this connection holds no snapshot while batches are in flight.
        await conn.commit()
        missing.extend(chunk[i] for i in positions)

    def full_batches() -> list[list[MappingJob]]:
        cut = len(missing) - len(missing) % size
        return [[unique[k] for k in missing[i : i + size]] for i in range(sent, cut, size)]

    sent = 0
    scanned = 0
    held: list[list[MappingJob]] = []
    # A connection per phase, so the limiter finds a warm one in the pool in between.
    async with engine.connect() as conn:
        for lo, hi in chunks:
            await scan(conn, lo, hi)
            scanned += 1
            batches = full_batches()
            held.extend(batches)
            sent += size * len(batches)
            if len(held) >= fetcher.concurrency:
                break
    for batch in held:
        fetcher.submit(batch)
    if scanned < len(chunks):
        await fetcher.first_wave()
        async with engine.connect() as conn:
            for lo, hi in chunks[scanned:]:
                await scan(conn, lo, hi)
                for batch in full_batches():
                    fetcher.submit(batch)
                    sent += size
    if sent < len(missing):
        fetcher.submit([unique[k] for k in missing[sent:]])
    return set(missing)


async def _read_hits(
    *,
    engine: AsyncEngine,
    order: list[CacheKey],
    unique: dict[CacheKey, MappingJob],
    missing: set[CacheKey],
    policy: CachePolicy,
    clock: Callable[[], dt.datetime],
) -> tuple[dict[CacheKey, IdentifierAnswer], list[MappingJob]]:
    """The answers of the keys found fresh, and the jobs whose row is no longer there or
    no longer fresh when read (cleared or aged in between)."""
    found_fresh = [k for k in order if k not in missing]
    hits: dict[CacheKey, IdentifierAnswer] = {}
    gone: list[MappingJob] = []
    async with engine.connect() as conn:
        for lo in range(0, len(found_fresh), LOOKUP_CHUNK):
            chunk = found_fresh[lo : lo + LOOKUP_CHUNK]
            found = await cache.current(conn, chunk)
            await conn.commit()
            now = clock()
            for key in chunk:
                row = found.get(key)
                if row is not None and row.is_fresh(
                    now, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl
                ):
                    hits[key] = IdentifierAnswer.from_cache(unique[key], row)
                else:
                    gone.append(unique[key])
    return hits, gone


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
