"""Fixtures for the pricing unit tests: the real provider recordings, a factory for bars,
Lean reference prices, and the provider emulator on a real local socket."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pricing.domain.bars import Interval, PriceBar
from secmaster_common.limiter import WindowLimiter
from secmaster_emulators.openfigi import serve_in_thread
from secmaster_emulators.providers import create_app

Recording = Callable[[str], Any]
BarFactory = Callable[..., PriceBar]


@pytest.fixture(scope="session")
def providers_dir(reference_dir: Path) -> Path:
    return reference_dir / "providers"


@pytest.fixture(scope="session")
def recording(providers_dir: Path) -> Recording:
    """`recording("yahoo/chart_....json")` -> the parsed JSON body."""

    def load(name: str) -> Any:
        return json.loads((providers_dir / name).read_text())

    return load


@pytest.fixture(scope="session")
def errors_quoted(providers_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (providers_dir / "ERRORS_FROM_DOCS_AND_ISSUES.json").read_text()
    )
    return data


@pytest.fixture(scope="session")
def lean_raw_closes(
    reference_dir: Path,
) -> Callable[[str], list[tuple[date, float, float, float, float, int]]]:
    """Lean daily rows of a ticker: (date, open, high, low, close, volume), prices in
    dollars (the files hold dollars x 10,000), raw (unadjusted)."""

    def load(ticker: str) -> list[tuple[date, float, float, float, float, int]]:
        with zipfile.ZipFile(reference_dir / "prices" / "lean_daily" / f"{ticker}.zip") as archive:
            text = archive.read(f"{ticker}.csv").decode()
        rows = []
        for line in io.StringIO(text):
            stamp, o, h, lo, c, v = line.strip().split(",")
            day = datetime.strptime(stamp, "%Y%m%d %H:%M").date()
            rows.append((day, int(o) / 1e4, int(h) / 1e4, int(lo) / 1e4, int(c) / 1e4, int(v)))
        return rows

    return load


@pytest.fixture(scope="session")
def make_bar() -> BarFactory:
    def factory(
        day: date,
        close: float = 100.0,
        *,
        open: float | None = None,
        high: float | None = None,
        low: float | None = None,
        volume: float = 1_000.0,
        symbol: str = "TEST",
        provider: str = "fake",
        interval: Interval = Interval.D1,
        ts: datetime | None = None,
        **extra: Any,
    ) -> PriceBar:
        o = close if open is None else open
        return PriceBar(
            symbol=symbol,
            trading_date=day,
            open=o,
            high=max(o, close) + 0.5 if high is None else high,
            low=min(o, close) - 0.5 if low is None else low,
            close=close,
            volume=volume,
            provider=provider,
            interval=interval,
            ts=ts,
            **extra,
        )

    return factory


@pytest.fixture
def fast_limiter() -> WindowLimiter:
    """A limiter that never holds a test up (tests of the published limits build their own)."""
    return WindowLimiter(10_000, 1.0)


@pytest.fixture(scope="session")
def emulator_base() -> Iterator[str]:
    """The provider emulator without rate limits, on a real socket, for the whole session."""
    with serve_in_thread(create_app(enforce_limits=False)) as url:
        yield url


@pytest.fixture
def emulator_url(emulator_base: str) -> str:
    """The shared emulator with its faults and request log cleared for this test."""
    httpx.delete(f"{emulator_base}/_admin/faults", timeout=5).raise_for_status()
    httpx.delete(f"{emulator_base}/_admin/requests", timeout=5).raise_for_status()
    return emulator_base
