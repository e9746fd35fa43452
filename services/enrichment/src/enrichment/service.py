"""Use cases of the enrichment service: queue identifiers that need an answer, drain the
queue through OpenFIGI, and record answers in the temporal cache with their events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient, OpenFigiConfigurationError, OpenFigiError
from enrichment.domain.mapping import MappingJob, MappingResult, MappingStatus
from secmaster_common.breaker import CircuitOpenError
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import SecurityMapped
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
# Preference when a holding carries several identifiers: the most specific first.
MAPPING_PREFERENCE = ("FIGI", "ISIN", "CUSIP", "SEDOL", "TICKER")


@dataclass(frozen=True)
class CachePolicy:
    negative_ttl: dt.timedelta = dt.timedelta(days=60)
    positive_ttl: dt.timedelta = dt.timedelta(days=30)


def job_for(id_type: str, id_value: str, filters: dict[str, object] | None = None) -> MappingJob:
    return MappingJob.from_filters(OPENFIGI_ID_TYPES[id_type], id_value, filters or {})


def preferred_identifier(identifiers: dict[str, str]) -> tuple[str, str] | None:
    for id_type in MAPPING_PREFERENCE:
        if identifiers.get(id_type):
            return id_type, identifiers[id_type]
    return None


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
        or not cached[key].is_fresh(now, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl)
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


def _listing_dict(listing: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(listing).items() if v is not None}


async def record_result(
    *,
    uow: UnitOfWork,
    id_type: str,
    result: MappingResult,
    today: dt.date,
    now: dt.datetime,
    correlation_id: str | None,
) -> SecurityMapped | None:
    """Apply one answer to the cache with history, and publish what changed:
    a new mapping, a changed ticker (old row closed, new row opened), or a new negative."""
    job = result.job
    key = (id_type, job.id_value, job.filter_key)
    prev = (await cache.current(uow.conn, [key])).get(key)
    event: SecurityMapped | None = None
    if result.status is MappingStatus.MAPPED:
        primary = result.primary_listing()
        assert primary is not None
        await cache.save_listings(
            uow.conn,
            id_type=id_type,
            id_value=job.id_value,
            filter_key=job.filter_key,
            listings=[_listing_dict(x) for x in result.listings],
        )
        values = {
            "ticker": primary.ticker,
            "figi": primary.figi,
            "composite_figi": primary.composite_figi,
            "share_class_figi": primary.share_class_figi,
            "exch_code": primary.exch_code,
            "security_type": primary.security_type,
            "security_type2": primary.security_type2,
            "market_sector": primary.market_sector,
            "name": primary.name,
            "listings": len(result.listings),
        }
        status: str | None
        if prev is not None and not prev.has_no_results and prev.ticker == primary.ticker:
            await cache.touch_current(
                uow.conn, id_type=id_type, id_value=job.id_value, filter_key=job.filter_key, values=values, fetched=now
            )
            status = None
        else:
            if prev is not None:
                await cache.close_current(
                    uow.conn, id_type=id_type, id_value=job.id_value, filter_key=job.filter_key, end=today
                )
            await cache.insert_mapping(
                uow.conn,
                {
                    "id_type": id_type,
                    "id_value": job.id_value,
                    "filter_key": job.filter_key,
                    **values,
                    "has_no_results": False,
                    "start_date": today,
                    "last_fetched_date": now,
                },
            )
            status = "ticker_changed" if prev is not None and not prev.has_no_results else "mapped"
        if status is not None:
            event = SecurityMapped(
                status=status,  # type: ignore[arg-type]
                id_type=id_type,  # type: ignore[arg-type]
                id_value=job.id_value,
                previous_ticker=prev.ticker if status == "ticker_changed" and prev else None,
                **{k: v for k, v in values.items()},
            )
    elif result.status is MappingStatus.NOT_FOUND:
        if prev is not None and prev.has_no_results:
            await cache.touch_current(
                uow.conn, id_type=id_type, id_value=job.id_value, filter_key=job.filter_key, values={}, fetched=now
            )
        else:
            if prev is not None:
                await cache.close_current(
                    uow.conn, id_type=id_type, id_value=job.id_value, filter_key=job.filter_key, end=today
                )
            await cache.insert_mapping(
                uow.conn,
                {
                    "id_type": id_type,
                    "id_value": job.id_value,
                    "filter_key": job.filter_key,
                    "has_no_results": True,
                    "start_date": today,
                    "last_fetched_date": now,
                },
            )
            event = SecurityMapped(status="not_found", id_type=id_type, id_value=job.id_value)  # type: ignore[arg-type]
    if event is not None:
        await uow.publish(event, key=job.id_value, correlation_id=correlation_id)
    return event


async def drain_queue_once(
    *,
    engine: AsyncEngine,
    client: OpenFigiClient,
    limit: int,
    lease_s: float,
    clock: Any = None,
) -> int:
    """Map one leased batch from the durable queue. Returns how many rows were answered.

    If OpenFIGI cannot answer (open breaker, outage, rate limit) the rows go back to the
    queue, due when the breaker may let a probe through: nothing is lost.
    """
    now_fn = clock or (lambda: dt.datetime.now(dt.UTC))
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
        async with UnitOfWork(engine, producer=PRODUCER) as uow:
            await cache.release(uow.conn, keys, delay_s=max(exc.retry_in_s, 0.5), error=str(exc))
            await uow.commit()
        return 0
    except OpenFigiConfigurationError:
        async with UnitOfWork(engine, producer=PRODUCER) as uow:
            await cache.release(uow.conn, keys, delay_s=60.0, error="OpenFIGI rejected the API key (401)")
            await uow.commit()
        raise
    except (OpenFigiError, OSError) as exc:
        async with UnitOfWork(engine, producer=PRODUCER) as uow:
            await cache.release(uow.conn, keys, delay_s=5.0, error=repr(exc))
            await uow.commit()
        log.warning("openfigi batch failed; identifiers stay queued", jobs=len(jobs), error=repr(exc))
        return 0
    now = now_fn()
    today = now.date()
    answered: list[tuple[str, str, str]] = []
    invalid: list[tuple[str, str, str]] = []
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        for row, key, result in zip(leased, keys, results, strict=True):
            if result.status is MappingStatus.INVALID:
                # An error answer says nothing about the identifier: never cache it as a
                # negative; park it (visible in the queue with its error) instead.
                invalid.append(key)
                continue
            await record_result(
                uow=uow,
                id_type=row["id_type"],
                result=result,
                today=today,
                now=now,
                correlation_id=row["correlation_id"],
            )
            answered.append(key)
        await cache.dequeue(uow.conn, answered)
        if invalid:
            await cache.release(uow.conn, invalid, delay_s=365 * 86400.0, error="OpenFIGI error answer")
        await uow.commit()
    return len(answered)
