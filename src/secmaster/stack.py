"""The embedded stack: Postgres (DATABASE_URL or embedded), the embedded broker, migrations,
optional local emulators (--sandbox), and the four services as separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from secmaster import demo_data
from secmaster_common.db.migrations import bootstrap_database, ensure_database
from secmaster_common.embedded import EmbeddedBroker, EmbeddedPostgres
from secmaster_common.embedded._proc import die_with_parent, free_port
from secmaster_common.events.topics import all_topics_with_dlq
from secmaster_common.kafka import ensure_topics
from secmaster_common.services import migrate_all
from secmaster_common.settings import CommonSettings, redact

SERVICES = ("ingestion", "enrichment", "pricing", "indexer")
DATABASE = "secmaster"


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    url: str | None
    log: Path
    argv: list[str]
    env: dict[str, str]


@dataclass
class Stack:
    """Everything `secmaster up` started; `stop()` takes it all down in reverse order."""

    home: Path
    sandbox: bool = False
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    provider_latency_ms: float = 0.0
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    processes: list[Process] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    dsn: str = ""
    bootstrap: str = ""

    # ---- start -----------------------------------------------------------------------

    def start(self, *, say: Any = print) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        server_dsn = self.database_url or os.environ.get("DATABASE_URL")
        if server_dsn:
            say(f"postgres: using DATABASE_URL {redact(server_dsn)}")
            self.dsn = server_dsn
        else:
            self.pg = EmbeddedPostgres(self.home / "postgres")
            say("postgres: starting the embedded server (data under .secmaster/postgres)")
            server = self.pg.start()
            asyncio.run(ensure_database(server, DATABASE))
            self.dsn = make_url(server).set(database=DATABASE).render_as_string(hide_password=False)
        asyncio.run(bootstrap_database(self.dsn))
        migrated = asyncio.run(migrate_all(self.dsn))
        say(f"migrations: {', '.join(migrated)} at head")

        bootstrap = self.kafka_bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            self.bootstrap = bootstrap
        else:
            self.broker = EmbeddedBroker(log_path=logs / "broker.log")
            self.bootstrap = self.broker.start()
        # the count the services batch bulk events for (KAFKA_TOPIC_PARTITIONS, in the env)
        partitions = CommonSettings().kafka_topic_partitions
        asyncio.run(
            ensure_topics(
                self.bootstrap, all_topics_with_dlq(self.topic_prefix), partitions=partitions
            )
        )
        say(f"broker: {self.bootstrap}")

        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            "KAFKA_HEARTBEAT_INTERVAL_MS": os.environ.get("KAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
            "LOG_JSON": "true",
            "TOPIC_PREFIX": self.topic_prefix,
            **self.extra_env,
        }
        if self.sandbox:
            env.update(self._start_emulators(logs))
        for svc in SERVICES:
            port = free_port()
            env_svc = {**env, f"{svc.upper()}_HTTP_PORT": str(port)}
            self._spawn(
                svc, [sys.executable, "-m", f"{svc}.app"], env_svc, logs, f"http://127.0.0.1:{port}"
            )
        self._wait_ready()

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], logs: Path, url: str | None
    ) -> Process:
        log = logs / f"{name}.log"
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                argv, env=env, stdout=fh, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        p = Process(name, proc, url, log, argv, env)
        self.processes.append(p)
        if url:
            self.urls[name] = url
        return p

    def _start_emulators(self, logs: Path) -> dict[str, str]:
        seed = self.home / "sandbox" / "openfigi-seed.json"
        seed.parent.mkdir(parents=True, exist_ok=True)
        seed.write_text(json.dumps(demo_data.openfigi_seed()))
        figi_port, prov_port = free_port(), free_port()
        emulator = [str(Path(sys.executable).with_name("secmaster-emulator"))]
        self._spawn(
            "openfigi-emulator",
            [*emulator, "openfigi", "--seed", str(seed), "--port", str(figi_port)],
            dict(os.environ),
            logs,
            f"http://127.0.0.1:{figi_port}",
        )
        self._spawn(
            "provider-emulator",
            [
                *emulator,
                "provider",
                "--port",
                str(prov_port),
                "--latency-ms",
                str(self.provider_latency_ms),
            ],
            dict(os.environ),
            logs,
            f"http://127.0.0.1:{prov_port}",
        )
        _wait_http(
            self.urls["openfigi-emulator"] + "/_emulator/stats", self._proc("openfigi-emulator")
        )
        _wait_http(
            self.urls["provider-emulator"] + "/_admin/health", self._proc("provider-emulator")
        )
        return {
            "OPENFIGI_BASE_URL": self.urls["openfigi-emulator"],
            "PRICING_PROVIDERS": "yahoo",
            "PRICING_BASE_URLS": json.dumps({"yahoo": self.urls["provider-emulator"]}),
        }

    def _proc(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def _wait_ready(self, timeout: float = 90.0) -> None:
        for svc in SERVICES:
            _wait_http(self.urls[svc] + "/readyz", self._proc(svc), timeout=timeout)

    # ---- fault injection (tests) ----------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL one process: no shutdown hooks, no flushing, as a crash."""
        p = self._proc(name)
        p.proc.kill()
        p.proc.wait()

    def restart(self, name: str) -> None:
        """Start a killed or stopped process again with the same command and environment."""
        old = self._proc(name)
        if old.proc.poll() is None:
            raise RuntimeError(f"{name} is still running")
        self.processes.remove(old)
        new = self._spawn(name, old.argv, old.env, old.log.parent, old.url)
        if name in SERVICES:
            _wait_http(self.urls[name] + "/readyz", new)

    # ---- stop ------------------------------------------------------------------------

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in reversed(self.processes):
            try:
                p.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop()

    def describe(self) -> list[tuple[str, str]]:
        rows = [("postgres", redact(self.dsn)), ("kafka", self.bootstrap)]
        rows += [(name, url) for name, url in self.urls.items()]
        rows += [("logs", str(self.home / "logs"))]
        return rows


def _wait_http(url: str, process: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            tail = process.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"{process.name} exited with {process.proc.returncode}; log tail:\n{tail}"
            )
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise RuntimeError(
        f"{process.name} not ready at {url} after {timeout}s ({last}); see {process.log}"
    )
