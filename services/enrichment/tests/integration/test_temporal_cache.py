"""The temporal cache over real Postgres: a ticker change closes the old row and opens a
new one (and `GET /securities/...?as_of=` returns history), negatives expire after their
TTL, and `error` answers are never cached as negatives."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.openfigi import OpenFigiClient
from enrichment.app import build_router
from enrichment.domain import MappingJob, MappingStatus
from enrichment.service import CachePolicy, drain_queue_once, map_identifiers, request_mappings
from secmaster_common.db.uow import UnitOfWork

from .conftest import StartEmulator, emulator_stats, one_listing_seed

pytestmark = pytest.mark.integration

META_ISIN = "US30303M1027"
POLICY = CachePolicy(negative_ttl=dt.timedelta(days=60), positive_ttl=dt.timedelta(days=30))
DAY1 = dt.datetime(2022, 6, 1, 12, tzinfo=dt.UTC)


def at(moment: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock stopped at `moment`, for the service functions."""
    return lambda: moment


async def outbox_events(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT key, value FROM outbox ORDER BY id"))
        return [{"key": r.key, **json.loads(r.value)["payload"]} for r in rows]


async def test_ticker_change_closes_the_old_row_and_as_of_returns_history(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    before_url, _ = start_emulator(
        one_listing_seed("ID_ISIN", META_ISIN, figi="BBG000MM2P62", ticker="FB")
    )
    after_url, _ = start_emulator(
        one_listing_seed("ID_ISIN", META_ISIN, figi="BBG000MM2P62", ticker="META")
    )
    job = MappingJob("ID_ISIN", META_ISIN)
    async with OpenFigiClient(before_url) as client:
        [first] = await map_identifiers(
            engine=engine, client=client, jobs=[job], policy=POLICY, clock=at(DAY1)
        )
    assert (first.status, first.primary and first.primary.ticker) == (MappingStatus.MAPPED, "FB")
    changed_on = DAY1 + dt.timedelta(days=31)  # past the positive TTL: asked again
    async with OpenFigiClient(after_url) as client:
        [second] = await map_identifiers(
            engine=engine, client=client, jobs=[job], policy=POLICY, clock=at(changed_on)
        )
    assert second.primary is not None and second.primary.ticker == "META"
    assert not second.cached

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT ticker, start_date, end_date FROM security_mappings "
                    "WHERE id_type = 'ISIN' AND id_value = :v ORDER BY start_date"
                ),
                {"v": META_ISIN},
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("FB", DAY1.date(), changed_on.date()),
        ("META", changed_on.date(), None),
    ]
    events = await outbox_events(engine)
    assert [(e["status"], e["ticker"], e["previous_ticker"]) for e in events] == [
        ("mapped", "FB", None),
        ("ticker_changed", "META", "FB"),
    ]
    assert {e["key"] for e in events} == {META_ISIN}

    app = FastAPI()
    app.include_router(build_router(engine, POLICY))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://enrichment"
    ) as http:
        old = await http.get(f"/securities/ISIN/{META_ISIN}", params={"as_of": "2022-06-15"})
        new = await http.get(f"/securities/isin/{META_ISIN}")
        on_change_day = await http.get(
            f"/securities/ID_ISIN/{META_ISIN}", params={"as_of": changed_on.date().isoformat()}
        )
        too_early = await http.get(f"/securities/ISIN/{META_ISIN}", params={"as_of": "2022-05-31"})
    assert (old.status_code, old.json()["ticker"]) == (200, "FB")
    assert (new.status_code, new.json()["ticker"], new.json()["status"]) == (200, "META", "mapped")
    assert on_change_day.json()["ticker"] == "META"
    assert too_early.status_code == 404 and "2022-05-31" in too_early.json()["detail"]


async def test_same_ticker_refresh_keeps_one_row_and_publishes_nothing(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator(
        one_listing_seed("ID_ISIN", META_ISIN, figi="BBG000MM2P62", ticker="META")
    )
    job = MappingJob("ID_ISIN", META_ISIN)
    async with OpenFigiClient(url) as client:
        for days in (0, 40, 80):
            await map_identifiers(
                engine=engine, client=client, jobs=[job], policy=POLICY,
                clock=at(DAY1 + dt.timedelta(days=days)),
            )  # fmt: skip
    async with engine.connect() as conn:
        row = await cache.as_of(conn, id_type="ISIN", id_value=META_ISIN, day=None)
        history = await conn.scalar(sa.text("SELECT count(*) FROM security_mappings"))
    assert history == 1
    assert row is not None and row.start_date == DAY1.date()
    assert row.last_fetched_date == DAY1 + dt.timedelta(days=80)
    assert [e["status"] for e in await outbox_events(engine)] == ["mapped"]


async def test_negative_answer_expires_after_its_ttl(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator()
    job = MappingJob("ID_CUSIP", "000000000")  # valid check digit, unknown: a warning
    async with OpenFigiClient(url) as client:

        async def ask(days: int) -> bool:
            [answer] = await map_identifiers(
                engine=engine, client=client, jobs=[job], policy=POLICY,
                clock=at(DAY1 + dt.timedelta(days=days)),
            )  # fmt: skip
            assert answer.status is MappingStatus.NOT_FOUND
            return answer.cached

        assert await ask(0) is False
        assert await ask(59) is True
        assert (await emulator_stats(url))["total"] == 1
        assert await ask(61) is False  # expired: asked again
        assert (await emulator_stats(url))["total"] == 2
    # The durable queue applies the same TTL to identifiers arriving as events.
    async with UnitOfWork(engine, producer="test") as uow:
        fresh = await request_mappings(
            uow=uow, refs=[("CUSIP", "000000000", {})], correlation_id=None, policy=POLICY,
            now=DAY1 + dt.timedelta(days=61 + 59),
        )  # fmt: skip
        stale = await request_mappings(
            uow=uow, refs=[("CUSIP", "000000000", {})], correlation_id=None, policy=POLICY,
            now=DAY1 + dt.timedelta(days=61 + 61),
        )  # fmt: skip
        await uow.commit()
    assert (fresh["cache_hits"], fresh["queued"]) == (1, 0)
    assert (stale["cache_hits"], stale["queued"]) == (0, 1)


async def test_error_answers_are_never_cached_as_negatives(
    engine: AsyncEngine, start_emulator: StartEmulator
) -> None:
    url, _ = start_emulator()
    bad = MappingJob("ID_CUSIP", "ZZZZZZZZZ")  # bad check digit: `error`, not `warning`
    async with OpenFigiClient(url) as client:
        for _ in range(2):
            [answer] = await map_identifiers(
                engine=engine, client=client, jobs=[bad], policy=POLICY, clock=at(DAY1)
            )
            assert answer.status is MappingStatus.INVALID
            assert answer.message == "Invalid idValue format." and not answer.cached
        assert (await emulator_stats(url))["total"] == 2  # asked each time, never cached

        async with UnitOfWork(engine, producer="test") as uow:
            await request_mappings(
                uow=uow, refs=[("CUSIP", "ZZZZZZZZZ", {}), ("CUSIP", "000000000", {})],
                correlation_id="c-1", policy=POLICY, now=DAY1,
            )  # fmt: skip
            await uow.commit()
        answered = await drain_queue_once(engine=engine, client=client, limit=10, lease_s=30)
    assert answered == 1
    async with engine.connect() as conn:
        stats = await cache.stats(conn, now=DAY1)
        cached = await conn.scalar(
            sa.text("SELECT count(*) FROM security_mappings WHERE id_value = 'ZZZZZZZZZ'")
        )
    assert cached == 0
    assert (stats["negative"], stats["mapped"], stats["parked"], stats["queued"]) == (1, 0, 1, 1)
