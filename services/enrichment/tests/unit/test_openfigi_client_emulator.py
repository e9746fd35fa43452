"""The client against the OpenFIGI emulator over a real socket: a burst stays inside the
window limit with zero 429s, injected 429s/5xx are absorbed, 413 is split, and the known
mappings come back right."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from enrichment.adapters.openfigi import (
    OpenFigiClient,
    OpenFigiConfigurationError,
    RetryPolicy,
)
from enrichment.domain import MappingJob, MappingStatus
from secmaster_common.limiter import WindowLimiter
from secmaster_emulators.openfigi import OpenFigiLimits, WindowLimit
from secmaster_emulators.openfigi.identifiers import cusip_check_digit

from .conftest import StartEmulator

KEY = "emulator-key"
FAST_RETRY = RetryPolicy(attempts=4, wait_initial_s=0.01, wait_max_s=0.05, jitter_s=0.0)


class PenaltyLog(WindowLimiter):
    """The real limiter, remembering every penalty the client gave it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.penalties: list[float] = []

    def penalize(self, wait_s: float) -> None:
        self.penalties.append(wait_s)
        super().penalize(wait_s)


def cusips(n: int) -> list[str]:
    """`n` distinct well-formed CUSIPs (valid check digits)."""
    return [f"{i:08d}" + cusip_check_digit(f"{i:08d}") for i in range(1000, 1000 + n)]


async def stats(url: str, window_s: float | None = None) -> dict[str, Any]:
    params = {"window_s": window_s} if window_s is not None else {}
    async with httpx.AsyncClient() as admin:
        return dict((await admin.get(url + "/_emulator/stats", params=params)).json())


async def test_burst_never_exceeds_the_window_and_gets_no_429(
    start_emulator: StartEmulator,
) -> None:
    limits = OpenFigiLimits(mapping_keyed=WindowLimit(5, 1.0))
    url, _ = start_emulator(api_keys={KEY}, limits=limits, synthesize=True)
    limiter = WindowLimiter(5, 1.0, margin_s=0.05)
    jobs = [MappingJob("ID_CUSIP", c) for c in cusips(30)]
    started = time.monotonic()
    async with OpenFigiClient(url, KEY, limiter=limiter, batch_size=2) as client:
        results = await client.map(jobs)
    elapsed = time.monotonic() - started
    assert [r.job for r in results] == jobs
    assert {r.status for r in results} == {MappingStatus.MAPPED}
    seen = await stats(url, window_s=1.0)
    assert seen["total"] == 15
    assert seen["by_status"] == {"200": 15}  # zero 429s
    assert seen["max_in_window"]["mapping"] <= 5
    # 15 requests at 5 per second: the limit allows it in just over 2 s, no faster.
    assert 2.0 <= elapsed < 3.0


async def test_injected_429_and_503_are_absorbed(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator(api_keys={KEY})
    async with httpx.AsyncClient(base_url=url) as admin:
        await admin.post("/_emulator/faults", json={"status": 429, "count": 1, "retry_after_s": 1})
        await admin.post("/_emulator/faults", json={"status": 503, "count": 2})
    limiter = PenaltyLog(25, 6.0, margin_s=0.05)
    started = time.monotonic()
    async with OpenFigiClient(url, KEY, limiter=limiter, retry=FAST_RETRY) as client:
        [result] = await client.map([MappingJob("ID_ISIN", "US4592001014")])
    assert result.status is MappingStatus.MAPPED and len(result.listings) == 198
    assert limiter.penalties == [1.0]
    assert time.monotonic() - started >= 1.0  # waited as retry-after said
    assert [r["status"] for r in (await stats(url))["requests"]] == [429, 503, 503, 200]


async def test_413_from_a_lower_ceiling_is_split(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator(api_keys={KEY}, limits=OpenFigiLimits(jobs_keyed=4), synthesize=True)
    jobs = [MappingJob("ID_CUSIP", c) for c in cusips(9)]
    async with OpenFigiClient(url, KEY, batch_size=9) as client:
        results = await client.map(jobs)
    assert [r.job for r in results] == jobs
    assert {r.status for r in results} == {MappingStatus.MAPPED}
    answered = [r["jobs"] for r in (await stats(url))["requests"] if r["status"] == 200]
    assert max(answered) <= 4 and sum(answered) == 9


async def test_wrong_key_is_a_configuration_error(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator(api_keys={KEY})
    async with OpenFigiClient(url, "not-the-key") as client:
        with pytest.raises(OpenFigiConfigurationError, match="OPENFIGI_API_KEY"):
            await client.map([MappingJob("TICKER", "IBM")])


async def test_known_mappings_through_the_emulator(
    start_emulator: StartEmulator, known_mappings: list[dict[str, Any]]
) -> None:
    url, _ = start_emulator(api_keys={KEY})
    jobs = [
        MappingJob.from_filters(m["idType"], m["idValue"], m.get("filters", {}))
        for m in known_mappings
    ]
    async with OpenFigiClient(url, KEY) as client:
        results = await client.map(jobs)
    by_value: dict[tuple[str, str, str], Any] = {}
    for entry, result in zip(known_mappings, results, strict=True):
        by_value[(entry["idType"], entry["idValue"], result.job.filter_key)] = result
        primary = entry.get("primary", {})
        if "figi" in primary:
            listing = result.primary_listing()
            assert listing is not None and listing.figi == primary["figi"], entry["idValue"]
        if "result" in entry:
            expected = (
                MappingStatus.NOT_FOUND if "warning" in entry["result"] else MappingStatus.INVALID
            )
            assert result.status is expected, entry["idValue"]
    # Full recorded answers keep every listing (n in known_mappings.json).
    assert len(by_value[("ID_ISIN", "US4592001014", "")].listings) == 198
    assert len(by_value[("TICKER", "IBM", "")].listings) == 73
    assert len(by_value[("TICKER", "IBM", "securityType2=Common Stock")].listings) == 61


async def test_search_and_values_through_the_emulator(start_emulator: StartEmulator) -> None:
    url, _ = start_emulator()
    async with OpenFigiClient(url) as client:
        apple = await client.search("Apple")
        id_types = await client.mapping_values("idType")
    assert apple[0].figi == "BBG000B9Y5X2" and apple[0].composite_figi == "BBG000B9XRY4"
    assert len(id_types) == 28 and "ID_ISIN" in id_types


async def test_default_limits_follow_the_key() -> None:
    keyed = OpenFigiClient("http://unused", "k")
    anonymous = OpenFigiClient("http://unused")
    try:
        assert (keyed.limiter.max_calls, keyed.limiter.window_s, keyed.batch_size) == (25, 6.0, 100)  # type: ignore[attr-defined]
        assert (anonymous.limiter.max_calls, anonymous.limiter.window_s, anonymous.batch_size) == (
            25,
            60.0,
            10,
        )  # type: ignore[attr-defined]
        assert anonymous.search_limiter.max_calls == 5  # type: ignore[attr-defined]
    finally:
        await keyed.aclose()
        await anonymous.aclose()
