"""End-to-end ingestion benchmark: a generated FIRDS full file goes through parse, validate,
store (COPY), outbox and the relay to the broker; records/s as a ratio to a bare lxml
iterparse of the same file in the same run, and peak memory of each (own process each).

    uv run python bench/ingestion/run.py [--records 1000000] [--keep FILE] [--repeat 3]

Postgres: DATABASE_URL (an admin DSN) if set, else 127.0.0.1:5432 when it answers, else an
embedded server. Broker: KAFKA_BOOTSTRAP_SERVERS if set, else the embedded Tansu broker.
A fresh database is created (schemas, roles, migrations) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_firds import write  # noqa: E402
from parse_throughput import bare  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Samples resident memory every `interval` s (the curve, not just the peak: flat means
    it stops growing after the first batches): this process's, and with its children (the
    parse workers) at the same instant in `totals`."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self.totals: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            own = me.memory_info().rss / 2**20
            children = 0.0
            for child in me.children(recursive=True):
                try:
                    children += child.memory_info().rss / 2**20
                except psutil.Error:  # a worker that just exited
                    continue
            self.samples.append(own)
            self.totals.append(own + children)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def end_to_end(path: Path, admin_dsn: str, bootstrap: str) -> dict[str, Any]:
    from ingestion.instrument_bulk import default_workers
    from ingestion.parsers import parse_file
    from ingestion.service import ingest_instruments
    from secmaster_common.db.engine import make_engine
    from secmaster_common.db.relay import drain_outbox
    from secmaster_common.events import topics
    from secmaster_common.kafka import ensure_topics
    from secmaster_common.services import service_role_dsn
    from secmaster_common.testing.databases import create_service_database, drop_database

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, [prefix + topics.REFERENCE_INSTRUMENTS], partitions=4)
    dsn = await create_service_database(admin_dsn, f"sm_bench_{uuid.uuid4().hex[:10]}")
    engine = make_engine(service_role_dsn(dsn, "ingestion", "app"), schema="ingestion")
    try:
        with RssSampler() as rss:
            started = time.perf_counter()
            parsed = parse_file(path, "firds")
            summary = await ingest_instruments(
                engine=engine, path=path, fmt=parsed.format, items=parsed.items
            )
            stored = time.perf_counter()
            relayed = await drain_outbox(
                service="ingestion", engine=engine, bootstrap_servers=bootstrap, topic_prefix=prefix
            )
            done = time.perf_counter()
        if summary.published != summary.records or relayed != summary.published:
            raise SystemExit(f"incomplete: {summary.as_dict()} relayed {relayed}")
        third = len(rss.samples) // 3
        return {
            "mode": "end_to_end",
            "records": summary.records,
            "seconds": done - started,
            "store_seconds": stored - started,
            "publish_seconds": done - stored,
            "published": relayed,
            "peak_mb": _peak_mb(),
            "workers": default_workers(),
            # this process and its parse workers together, sampled at the same instants
            "total_rss_mb_max": max(rss.totals, default=0.0),
            # resident memory over the first and last third of the run: equal means flat
            "rss_mb_first_third_max": max(rss.samples[:third], default=0.0),
            "rss_mb_last_third_max": max(rss.samples[-third:], default=0.0) if third else 0.0,
        }
    finally:
        await engine.dispose()
        await drop_database(admin_dsn, dsn)
        await _delete_topic(bootstrap, prefix + topics.REFERENCE_INSTRUMENTS)


async def _delete_topic(bootstrap: str, topic: str) -> None:
    """Each run publishes to its own topic; deleting it after the run keeps the runs
    alike: the embedded broker holds every event in memory (about 0.5 GB a million) and
    published more slowly with each run's events still held."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def run_child(mode: str, path: Path, admin_dsn: str, bootstrap: str) -> None:
    before = psutil.cpu_times()
    if mode == "bare":
        started = time.perf_counter()
        count = bare(path)
        seconds = time.perf_counter() - started
        result = {"mode": "bare", "records": count, "seconds": seconds, "peak_mb": _peak_mb()}
    else:
        result = asyncio.run(end_to_end(path, admin_dsn, bootstrap))
    result["steal_percent"] = _steal_percent(before, psutil.cpu_times())
    print(json.dumps(result))


def _steal_percent(before: Any, after: Any) -> float | None:
    """The share of CPU time the hypervisor took from this machine during a run (Linux
    `steal`): a shared host that takes a fifth of it makes a run slower by about that
    much, and the end-to-end run, which keeps both cores busy, more than the bare one."""
    if not hasattr(before, "steal"):
        return None
    total = sum(after) - sum(before)
    return round(100 * (after.steal - before.steal) / total, 1) if total > 0 else 0.0


def _servers(stack: ExitStack, workdir: Path) -> tuple[str, str]:
    from secmaster_common.embedded import EmbeddedBroker, EmbeddedPostgres, postgres_answers

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "tansu.log")
        broker.start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        if postgres_answers("127.0.0.1", 5432):
            dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            server = EmbeddedPostgres(workdir / "pg")
            server.start()
            stack.callback(server.stop)
            dsn = server.dsn
    return dsn, bootstrap


def quiesce(admin_dsn: str, *, idle_percent: float = 15.0, timeout_s: float = 60.0) -> None:
    """Let the machine go quiet before a run: the server writes out what the last load
    left in its buffers (CHECKPOINT), then wait until the CPUs are idle. A bare parse run
    right after a load otherwise competed with that work and measured up to a third
    slower, which made the ratio swing from run to run."""

    async def checkpoint() -> None:
        import asyncpg

        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            pass  # not a superuser on that server: waiting for idle CPUs has to do
        finally:
            await conn.close()

    asyncio.run(checkpoint())
    deadline = time.monotonic() + timeout_s
    while psutil.cpu_percent(interval=1.0) > idle_percent and time.monotonic() < deadline:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="bare and end-to-end runs, alternated; the ratio reported is their median "
        "(on a shared machine one pair varies by a fifth either way)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, dsn, bootstrap = args.child
        run_child(mode, Path(path), dsn, bootstrap)
        return
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        path = args.keep or workdir / "FULINS_bench.xml"
        if not path.exists():
            write(path, args.records)
        dsn, bootstrap = _servers(stack, workdir)
        for _ in range(max(1, args.repeat)):
            results = {}
            for mode in ("bare", "end_to_end"):
                quiesce(dsn)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(path), dsn, bootstrap],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            pairs.append((results["bare"], results["end_to_end"]))
    runs = [
        {
            "bare_records_per_s": round(b["records"] / b["seconds"]),
            "end_to_end_records_per_s": round(e["records"] / e["seconds"]),
            "ratio": round(b["seconds"] / e["seconds"], 3),
            "store_seconds": round(e["store_seconds"], 1),
            "publish_seconds": round(e["publish_seconds"], 1),
            "steal_percent_bare": b["steal_percent"],
            "steal_percent_end_to_end": e["steal_percent"],
        }
        for b, e in pairs
    ]
    ratios = sorted(r["ratio"] for r in runs)
    e = pairs[-1][1]
    summary = {
        "file_mb": round(path.stat().st_size / 1e6, 1) if args.keep else None,
        "records": e["records"],
        "ratio": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
        "runs": runs,
        "bare_peak_mb": round(max(b["peak_mb"] for b, _ in pairs)),
        "end_to_end_peak_mb": round(max(e["peak_mb"] for _, e in pairs)),
        "parse_workers": e["workers"],
        "end_to_end_with_workers_rss_mb_max": round(max(e["total_rss_mb_max"] for _, e in pairs)),
        "rss_mb_first_third_max": round(e["rss_mb_first_third_max"]),
        "rss_mb_last_third_max": round(e["rss_mb_last_third_max"]),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
