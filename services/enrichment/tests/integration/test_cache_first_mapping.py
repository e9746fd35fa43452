"""Cache-first mapping over real Postgres and the emulator: only identifiers without a fresh
cache row are asked (missing ones, positives past their refresh age, negatives past their
TTL), each once, and the answers come back aligned with the jobs, cached or not."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient
from enrichment.domain import FigiListing, MappingJob, MappingResult, MappingStatus
from enrichment.service import CachePolicy, cache_key, map_identifiers, record_results
from secmaster_common.db.uow import UnitOfWork
from secmaster_emulators.openfigi.identifiers import isin_check_digit

from .conftest import StartEmulator, emulator_stats

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
POLICY = CachePolicy(negative_ttl=dt.timedelta(days=60), positive_ttl=dt.timedelta(days=30))


def isins(n: int, start: int) -> list[str]:
    return [f"US{i:09d}" + isin_check_digit(f"US{i:09d}") for i in range(start, start + n)]


def mapped(job: MappingJob) -> MappingResult:
    figi = "BBG" + job.id_value[-9:]
    return MappingResult.mapped(
        job, [FigiListing(figi=figi, ticker="OLD", exch_code="US", composite_figi=figi)]
    )


async def remember(
    engine: AsyncEngine, results: list[MappingResult], *, fetched: dt.datetime
) -> None:
    async with UnitOfWork(engine, producer="test") as uow:
        await record_results(
            uow=uow, results=results, today=fetched.date(), now=fetched, correlation_id=None
        )
        await uow.commit()


async def test_only_identifiers_without_a_fresh_answer_are_asked_and_answers_stay_aligned(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator(api_keys={"k"}, synthesize=True)
    groups = {
        name: [MappingJob("ID_ISIN", v) for v in isins(6, start)]
        for name, start in (
            ("fresh", 100), ("stale", 200), ("fresh_negative", 300),
            ("stale_negative", 400), ("unknown", 500),
        )
    }  # fmt: skip
    await remember(engine, [mapped(j) for j in groups["fresh"]], fetched=NOW - dt.timedelta(1))
    await remember(engine, [mapped(j) for j in groups["stale"]], fetched=NOW - dt.timedelta(31))
    negatives = [MappingResult.not_found(j) for j in groups["fresh_negative"]]
    await remember(engine, negatives, fetched=NOW - dt.timedelta(59))
    negatives = [MappingResult.not_found(j) for j in groups["stale_negative"]]
    await remember(engine, negatives, fetched=NOW - dt.timedelta(61))

    jobs = [j for group in groups.values() for j in group]
    random.Random(7).shuffle(jobs)
    jobs += jobs[:5]  # asked twice in one call: answered twice, fetched once
    async with OpenFigiClient(url, "k", batch_size=4) as client:
        answers = await map_identifiers(
            engine=engine, client=client, jobs=jobs, policy=POLICY, clock=lambda: NOW,
            concurrency=2,
        )  # fmt: skip

    assert [a.job for a in answers] == jobs
    cached = {a.job for a in answers if a.cached}
    assert cached == set(groups["fresh"]) | set(groups["fresh_negative"])
    by_job = {a.job: a for a in answers}
    assert {by_job[j].status for j in groups["fresh_negative"]} == {MappingStatus.NOT_FOUND}
    assert {by_job[j].primary.ticker for j in groups["fresh"]} == {"OLD"}  # type: ignore[union-attr]
    # The stale and unknown ones were asked, once each, in request-sized batches.
    asked = set(groups["stale"]) | set(groups["stale_negative"]) | set(groups["unknown"])
    assert {by_job[j].status for j in asked} == {MappingStatus.MAPPED}
    stats = await emulator_stats(url)
    assert sum(r["jobs"] for r in stats["requests"]) == len(asked)
    assert max(r["jobs"] for r in stats["requests"]) == 4
    # ... and their answers are now current cache rows, fresh at NOW.
    async with engine.connect() as conn:
        rows = await cache.current(conn, [cache_key(j) for j in asked])
    assert {r.last_fetched_date for r in rows.values()} == {NOW}


async def test_unfresh_positions_name_missing_and_expired_rows(engine: AsyncEngine) -> None:
    fresh, stale, unknown = (MappingJob("ID_ISIN", v) for v in isins(3, 700))
    await remember(engine, [mapped(fresh)], fetched=NOW - dt.timedelta(29))
    await remember(engine, [mapped(stale)], fetched=NOW - dt.timedelta(30))  # exactly the TTL
    async with engine.connect() as conn:
        positions = await cache.unfresh_positions(
            conn,
            [cache_key(j) for j in (fresh, stale, unknown)],
            negatives_since=NOW - POLICY.negative_ttl,
            positives_since=NOW - POLICY.positive_ttl,
        )
    assert positions == [1, 2]
