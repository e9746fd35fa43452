"""Benchmark of the enrichment service's cache-first mapping: 100,000 ISINs, 80% already
cached, against the OpenFIGI emulator (a separate process) at the keyed limit, through the
same code path the service and `secmaster figi map` use (Postgres-shared limiter, breaker,
batching, recording answers as they arrive). Also measures cache-hit throughput and, in
the same run, a one-identifier-per-request sequential client as the baseline.

Run: `uv run python bench/enrichment/run.py [--scale 0.1]` (JSON on stdout, progress on
stderr). Needs a Postgres: DATABASE_URL (admin), else 127.0.0.1:5432 as postgres; a
throwaway database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from enrichment.adapters.openfigi import OpenFigiClient
from enrichment.domain import MappingJob, MappingStatus
from enrichment.service import CachePolicy, map_identifiers
from enrichment.settings import EnrichmentSettings
from enrichment.wiring import budget_name, build_client
from secmaster_common.db.engine import make_engine
from secmaster_common.db.limiter import PostgresWindowLimiter
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.databases import create_service_database, drop_database
from secmaster_emulators.openfigi import synthetic_row
from secmaster_emulators.openfigi.identifiers import isin_check_digit

KEY, BASELINE_KEY = "bench-key", "bench-baseline-key"
MAX_REQUESTS, WINDOW_S, JOBS_PER_REQUEST = 25, 6.0, 100


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def isins(n: int, start: int = 0) -> list[str]:
    """`n` distinct well-formed US ISINs (valid check digits)."""
    return [f"US{i:09d}" + isin_check_digit(f"US{i:09d}") for i in range(start, start + n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The emulator in its own process (as in production, the API is not in our GIL)."""
    seed = tmp / "seed.json"
    seed.write_text("{}", encoding="utf-8")
    port = free_port()
    exe = Path(sys.executable).with_name("secmaster-emulator")
    proc = subprocess.Popen(
        [
            str(exe),
            "openfigi",
            "--seed",
            str(seed),
            "--port",
            str(port),
            "--synthesize",
            "--mapping-keyed",
            f"{MAX_REQUESTS}/{WINDOW_S:g}",
            "--api-key",
            KEY,
            "--api-key",
            BASELINE_KEY,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_emulator/stats", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the OpenFIGI emulator did not start")


async def seed_cache(app_dsn: str, values: list[str]) -> None:
    """Write `values` as fresh cached mappings (COPY), the same rows the emulator would give."""
    fetched = dt.datetime.now(dt.UTC)
    records = []
    for v in values:
        row = synthetic_row("ID_ISIN", v)
        records.append(
            (
                "ISIN",
                v,
                "",
                row["ticker"],
                row["figi"],
                row["compositeFIGI"],
                row["shareClassFIGI"],
                row["exchCode"],
                row["securityType"],
                row["securityType2"],
                row["marketSector"],
                row["name"],
                1,
                False,
                fetched.date(),
                fetched,
            )
        )
    conn = await asyncpg.connect(app_dsn)
    try:
        await conn.copy_records_to_table(
            "security_mappings",
            schema_name="enrichment",
            columns=[
                "id_type",
                "id_value",
                "filter_key",
                "ticker",
                "figi",
                "composite_figi",
                "share_class_figi",
                "exch_code",
                "security_type",
                "security_type2",
                "market_sector",
                "name",
                "listings",
                "has_no_results",
                "start_date",
                "last_fetched_date",
            ],
            records=records,
        )
        await conn.execute("ANALYZE enrichment.security_mappings")
    finally:
        await conn.close()


MINIMUM_FORMULA = "(ceil(requests / N) - 1) * T"


def rate_limit_minimum_s(requests: int) -> float:
    """The least wall time `requests` need at N per T: the k-th group of N may start at
    (k-1)*T at the earliest, so the last request leaves at (ceil(R/N) - 1) * T.

    It leaves out the last request's own latency and the work before the first request
    and after the last answer, which any client also needs: the true least wall time is a
    little above it, so the ratio to it is strict (a perfect client would score above 1).
    """
    return (math.ceil(requests / MAX_REQUESTS) - 1) * WINDOW_S


def window_boundary_costs(times: list[float]) -> list[float]:
    """For each request k+N, how long after request k + T it arrived (server clock): what
    each window boundary cost beyond T (the limiter's margin, the answer it waits for,
    admission and sending)."""
    return [times[i] - times[i - MAX_REQUESTS] - WINDOW_S for i in range(MAX_REQUESTS, len(times))]


async def emulator_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(url + "/_emulator/stats", params={"window_s": WINDOW_S})
        return dict(r.json())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    total = round(args.identifiers * args.scale)
    cached_n = round(total * args.cached_fraction)
    misses = total - cached_n
    server_dsn = args.database_url
    db_dsn = await create_service_database(server_dsn, f"bench_enrichment_{uuid.uuid4().hex[:8]}")
    app_dsn = service_role_dsn(db_dsn, "enrichment", "app")
    tmp = Path(tempfile.mkdtemp(prefix="bench-enrichment-"))
    emulator, url = start_emulator(tmp)
    engine = make_engine(app_dsn, schema="enrichment", pool_size=10)
    try:
        values = isins(total)
        rng = random.Random(20261122)
        cached_values = rng.sample(values, cached_n)
        say(f"seeding {cached_n:,} cached mappings ...")
        await seed_cache(app_dsn, cached_values)
        rng.shuffle(values)
        jobs = [MappingJob("ID_ISIN", v) for v in values]
        settings = EnrichmentSettings(
            openfigi_base_url=url,
            openfigi_api_key=KEY,
            openfigi_max_requests=MAX_REQUESTS,
            openfigi_window_s=WINDOW_S,
        )
        policy = CachePolicy()

        recorded: list[float] = []  # perf_counter() as each OpenFIGI batch is recorded

        def progress(stage: str, done: int, of: int) -> None:
            if stage == "openfigi":
                recorded.append(time.perf_counter())
            if stage == "cache" or done == of or done % (JOBS_PER_REQUEST * 25) == 0:
                say(f"  {stage}: {done:,}/{of:,}")

        say(f"mapping {total:,} identifiers ({misses:,} not cached) ...")
        client = build_client(settings, engine)
        async with client:
            started = started_main = time.perf_counter()
            answers = await map_identifiers(
                engine=engine, client=client, jobs=jobs, policy=policy, progress=progress,
                concurrency=args.concurrency,
            )  # fmt: skip
            wall = time.perf_counter() - started
        assert [a.job for a in answers] == jobs
        assert all(a.status is MappingStatus.MAPPED for a in answers)
        from_api = sum(not a.cached for a in answers)
        main_stats = await emulator_stats(url)

        say(f"cache-hit throughput over all {total:,} (now cached) ...")
        client = build_client(settings, engine)
        async with client:
            started = time.perf_counter()
            again = await map_identifiers(engine=engine, client=client, jobs=jobs, policy=policy)
            hit_wall = time.perf_counter() - started
        assert all(a.cached for a in again)

        baseline_n = min(args.baseline_identifiers, misses)
        say(f"baseline: {baseline_n} identifiers, one per request, sequentially ...")
        limiter = PostgresWindowLimiter(
            engine, budget=budget_name(BASELINE_KEY), max_calls=MAX_REQUESTS,
            window_s=WINDOW_S, margin_s=settings.openfigi_limit_margin_s,
        )  # fmt: skip
        base_jobs = [MappingJob("ID_ISIN", v) for v in isins(baseline_n, start=total)]
        async with OpenFigiClient(url, BASELINE_KEY, limiter=limiter, batch_size=1) as one:
            started = time.perf_counter()
            for job in base_jobs:
                [result] = await one.map([job])
                assert result.status is MappingStatus.MAPPED
            base_wall = time.perf_counter() - started
        after = await emulator_stats(url)
    finally:
        await engine.dispose()
        emulator.terminate()
        emulator.wait(timeout=10)
        await drop_database(server_dsn, db_dsn)

    requests = math.ceil(misses / JOBS_PER_REQUEST)
    minimum = rate_limit_minimum_s(requests)
    per_id = base_wall / baseline_n if baseline_n else 0.0
    statuses = after["by_status"]
    times = sorted(r["t"] for r in main_stats["requests"])
    costs = window_boundary_costs(times)
    return {
        "benchmark": "enrichment cache-first mapping vs OpenFIGI emulator at the keyed limit",
        "scale": args.scale,
        "identifiers": total,
        "cached_before": cached_n,
        "asked_openfigi": from_api,
        "limit": f"{MAX_REQUESTS} requests / {WINDOW_S:g} s, {JOBS_PER_REQUEST} jobs/request",
        "requests": main_stats["by_status"].get("200", 0),
        "wall_s": round(wall, 2),
        "rate_limit_minimum_s": minimum,
        "rate_limit_minimum_formula": f"{MINIMUM_FORMULA}, N={MAX_REQUESTS}, T={WINDOW_S:g} s",
        "wall_to_minimum_ratio": round(wall / minimum, 4) if minimum else None,
        "limiter_margin_s_per_window": settings.openfigi_limit_margin_s,
        "window_boundary_cost_s": {
            "mean": round(statistics.fmean(costs), 3) if costs else None,
            "max": round(max(costs), 3) if costs else None,
        },
        "first_to_last_request_s": round(times[-1] - times[0], 2) if times else None,
        # Where the time outside the paced phase went (from the start of the mapping).
        "first_batch_recorded_s": round(recorded[0] - started_main, 2) if recorded else None,
        "last_batch_recorded_s": round(recorded[-1] - started_main, 2) if recorded else None,
        # Arrival of every N-th request after the first: where each window really began.
        "window_starts_s": [round(t - times[0], 2) for t in times[::MAX_REQUESTS]],
        "window_ends_s": [round(t - times[0], 2) for t in times[MAX_REQUESTS - 1 :: MAX_REQUESTS]],
        "max_requests_in_any_window": main_stats["max_in_window"]["mapping"],
        "http_429": int(statuses.get("429", 0)),
        "cache_hit": {
            "identifiers": total,
            "wall_s": round(hit_wall, 3),
            "identifiers_per_s": round(total / hit_wall),
        },
        "baseline_one_per_request": {
            "identifiers_run": baseline_n,
            "wall_s": round(base_wall, 2),
            "note": f"scaled down: {baseline_n} of the {misses:,} misses were run; the "
            "projection multiplies the measured time per identifier",
            "projected_wall_s_for_all_misses": round(per_id * misses, 1),
            "speedup_of_batched_client": round(per_id * misses / wall, 1) if wall else None,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            # Other work on the machine shares its cores with the emulator and Postgres.
            "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identifiers", type=int, default=100_000)
    parser.add_argument("--cached-fraction", type=float, default=0.8)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="Multiply the identifier count (0.1 = 10,000)."
    )
    parser.add_argument(
        "--baseline-identifiers", type=int, default=100,
        help="Identifiers the one-per-request baseline really runs (it needs 0.24 s each).",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=int, default=MAX_REQUESTS, help="OpenFIGI requests in flight."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
