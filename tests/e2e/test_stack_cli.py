"""`secmaster up --sandbox` starts every process, prints where they are, and stops all of
them cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from secmaster_common.testing.databases import create_service_database, drop_database

pytestmark = pytest.mark.e2e


def test_up_serves_and_stops_cleanly_on_sigterm(
    pg_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    dsn = asyncio.run(create_service_database(pg_dsn, f"sm_up_{uuid.uuid4().hex[:10]}"))
    log = tmp_path / "up.log"
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SECMASTER_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    }
    exe = Path(sys.executable).with_name("secmaster")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "up", "--sandbox"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while "serving; press Ctrl-C to stop" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.25)
        text = log.read_text(errors="replace")
        row = r"│ (ingestion|enrichment|pricing|indexer)\s*│ (http://\S+)\s*│"
        urls = dict(re.findall(row, text))
        assert sorted(urls) == ["enrichment", "indexer", "ingestion", "pricing"], text
        for url in urls.values():
            assert httpx.get(url + "/readyz", timeout=5).json()["status"] == "ready"
            # /readyz measured the outbox backlog; /metrics exports it.
            assert "secmaster_outbox_backlog{" in httpx.get(url + "/metrics", timeout=5).text
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 6  # four services and two emulators

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        assert "stopped" in log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        asyncio.run(drop_database(pg_dsn, dsn))
