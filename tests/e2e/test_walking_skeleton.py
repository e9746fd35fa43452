"""A holdings file becomes index levels through four real service processes, over the
real broker and a real Postgres; and a crashed service loses and doubles nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from secmaster import demo_data
from secmaster.demo import publish_definition, run_demo, upload_holdings, wait_for_levels
from secmaster_common.events import topics
from secmaster_common.sandbox import synthetic_day
from secmaster_common.testing.kafka import header_map, read_records

pytestmark = pytest.mark.e2e


def expected_levels(start: dt.date, end: dt.date) -> dict[str, float]:
    """The holdings-weighted index computed here, independently of the indexer: level_t =
    base x sum(q_i x close_i,t) / sum(q_i x close_i,base), on days every constituent has a
    close (the emulator's synthetic series is the only price source)."""
    quantities = {i.ticker: i.quantity for i in demo_data.issuers()}
    out: dict[str, float] = {}
    base_value: float | None = None
    day = start
    while day <= end:
        closes = {t: synthetic_day(t, day) for t in quantities}
        if all(c is not None for c in closes.values()):
            value = sum(quantities[t] * closes[t].close for t in quantities)  # type: ignore[union-attr]
            if base_value is None:
                base_value = value
            out[day.isoformat()] = 1000.0 * value / base_value
        day += dt.timedelta(days=1)
    return out


def test_holdings_file_becomes_index_levels(stack_factory: Any) -> None:
    stack = stack_factory()
    result = run_demo(stack, say=lambda _m: None, timeout=120)

    assert result["instruments"] == 10
    assert result["securities_mapped"] == 10
    expected = expected_levels(demo_data.AS_OF, demo_data.HISTORY_END)
    got = {lv["date"]: lv["level"] for lv in result["index_levels"]}
    assert result["bars"] == 10 * len(expected)
    assert sorted(got) == sorted(expected)
    for day, level in expected.items():
        assert got[day] == pytest.approx(level, rel=1e-12), day
    assert got[demo_data.AS_OF.isoformat()] == 1000.0


async def _count_topic(bootstrap: str, topic: str) -> tuple[int, Counter[str]]:
    records = await read_records(bootstrap, topic)
    return len(records), Counter(header_map(r)["event_id"] for r in records)


async def _scalar(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def test_sigkill_mid_flow_loses_and_doubles_nothing(stack_factory: Any) -> None:
    # Every provider answer takes 300 ms, so pricing is caught in the middle of the universe.
    stack = stack_factory(provider_latency_ms=300)
    definition = demo_data.index_definition()
    asyncio.run(publish_definition(stack.bootstrap, definition, prefix=stack.topic_prefix))
    holdings = demo_data.write_holdings_csv(stack.home / "holdings.csv")
    upload_holdings(stack.urls["ingestion"], holdings)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        priced = httpx.get(stack.urls["pricing"] + "/stats", timeout=5).json()["instruments"]
        if 2 <= priced < 10:
            break
        time.sleep(0.05)
    else:
        pytest.fail("pricing never reached the middle of the universe")
    stack.kill("pricing")
    stack.kill("indexer")
    stack.restart("pricing")
    stack.restart("indexer")

    done = wait_for_levels(stack, expected_instruments=10, timeout=120, say=lambda _m: None)
    expected = expected_levels(demo_data.AS_OF, demo_data.HISTORY_END)
    sessions = len(expected)
    assert done["bars"] == 10 * sessions
    levels = [lv["level"] for lv in done["levels"]]
    assert levels == pytest.approx(list(expected.values()), rel=1e-12)

    dsn = stack.dsn
    # Rows: exactly one bar per instrument and session, one universe row per instrument.
    assert asyncio.run(_scalar(dsn, "SELECT count(*) FROM pricing.bars_daily")) == 10 * sessions
    assert asyncio.run(_scalar(dsn, "SELECT count(*) FROM pricing.universe")) == 10
    # Events: one market.bars.v1 batch per instrument in the outbox; on the wire each event id
    # may appear more than once (at-least-once relay) but there are exactly 10 distinct ones,
    # and the indexer applied each exactly once (its inbox).
    assert asyncio.run(_scalar(dsn, "SELECT count(*) FROM pricing.outbox")) == 10
    total, ids = asyncio.run(_count_topic(stack.bootstrap, stack.topic_prefix + topics.MARKET_BARS))
    assert len(ids) == 10 and total >= 10
    assert (
        asyncio.run(
            _scalar(dsn, f"SELECT count(*) FROM indexer.inbox WHERE topic = '{topics.MARKET_BARS}'")
        )
        == 10
    )
    assert asyncio.run(_scalar(dsn, "SELECT count(*) FROM indexer.prices")) == 10 * sessions
    assert make_url(dsn).database.startswith("sm_e2e_")
