"""Acceptance: three replicas (three OS processes, each with the real Postgres-shared
limiter, OpenFIGI client and queue worker) drain one queue against the emulator at the
keyed limit, 25 requests per 6 s. Together they never put more than 25 requests in any
6-second window (the emulator's own request log says so) and get zero 429s."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.service import CachePolicy, request_mappings
from secmaster_common.db.uow import UnitOfWork
from secmaster_emulators.openfigi import OpenFigiLimits, WindowLimit

from .conftest import StartEmulator, cusips, emulator_stats

pytestmark = pytest.mark.integration

KEY = "replica-key"
N, T = 25, 6.0  # the published keyed limit, as the issue asks
REPLICAS, IDENTIFIERS, BATCH = 3, 160, 2  # 80 requests: 25 + 25 + 25 + 5 over 3 windows

REPLICA = """
import asyncio, json, sys
from enrichment.adapters import cache
from enrichment.service import drain_queue_once
from enrichment.settings import EnrichmentSettings
from enrichment.wiring import build_client, database_dsn
from secmaster_common.db.engine import make_engine

async def main():
    settings = EnrichmentSettings()
    engine = make_engine(database_dsn(settings), schema="enrichment", pool_size=4)
    client = build_client(settings, engine)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go": every replica starts together
    answered = 0
    async with client:
        while True:
            n = await drain_queue_once(
                engine=engine, client=client, limit=2 * client.batch_size, lease_s=30
            )
            answered += n
            if n == 0:
                async with engine.connect() as conn:
                    if await cache.queue_depth(conn) == 0:
                        break
                await asyncio.sleep(0.05)
    await engine.dispose()
    print(json.dumps({"answered": answered}))

asyncio.run(main())
"""


async def test_three_replicas_never_exceed_the_window_together(
    engine: AsyncEngine, app_dsn: str, start_emulator: StartEmulator
) -> None:
    limits = OpenFigiLimits(mapping_keyed=WindowLimit(N, T))
    url, _ = start_emulator(api_keys={KEY}, limits=limits, synthesize=True)
    ids = cusips(IDENTIFIERS)
    async with UnitOfWork(engine, producer="test") as uow:
        await request_mappings(
            uow=uow, refs=[("CUSIP", c, {}) for c in ids], correlation_id="replicas",
            policy=CachePolicy(), now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        await uow.commit()
    env = {
        **os.environ,
        "ENRICHMENT_DATABASE_URL": app_dsn,
        "OPENFIGI_BASE_URL": url,
        "OPENFIGI_API_KEY": KEY,
        "OPENFIGI_MAX_REQUESTS": str(N),
        "OPENFIGI_WINDOW_S": str(T),
        "OPENFIGI_BATCH_SIZE": str(BATCH),
        "LOG_LEVEL": "WARNING",
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            REPLICA,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(REPLICAS)
    ]
    for p in procs:
        assert p.stdout is not None
        line = await asyncio.wait_for(p.stdout.readline(), timeout=60)
        assert line.strip() == b"ready", line
    started = time.monotonic()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        await p.stdin.drain()
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    elapsed = time.monotonic() - started
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    answered = [json.loads(out.decode().strip().splitlines()[-1])["answered"] for out, _ in outputs]
    assert sum(answered) == IDENTIFIERS
    assert all(n > 0 for n in answered), answered  # all three really took part

    seen = await emulator_stats(url, window_s=T)
    requests = IDENTIFIERS // BATCH
    assert seen["by_status"] == {"200": requests}  # zero 429s, nothing asked twice
    assert seen["max_in_window"]["mapping"] <= N
    # The budget is shared, not tripled: 80 requests at 25 per 6 s need 3 full windows.
    assert elapsed >= (requests / N - 1) * T
    async with engine.connect() as conn:
        mapped = await conn.scalar(
            sa.text("SELECT count(*) FROM security_mappings WHERE NOT has_no_results")
        )
    assert mapped == IDENTIFIERS
