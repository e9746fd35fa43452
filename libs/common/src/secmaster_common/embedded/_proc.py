"""Child-process helpers shared by the embedded broker and Postgres."""

from __future__ import annotations

import ctypes
import signal
import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn: Linux PR_SET_PDEATHSIG, so a SIGKILLed parent leaves no orphan."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except OSError:
        pass


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
