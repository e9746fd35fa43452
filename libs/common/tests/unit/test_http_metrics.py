"""External API calls are counted by host and status."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from secmaster_common.http import instrumented_client


async def test_calls_are_counted_by_host_and_status() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429 if request.url.path == "/limited" else 200, text="x")

    client = instrumented_client("metrics-test", transport=httpx.MockTransport(answer))

    def count(status: str) -> float:
        value = REGISTRY.get_sample_value(
            "secmaster_api_calls_total",
            {"service": "metrics-test", "host": "api.example.test", "status": status},
        )
        return value or 0.0

    before_ok, before_limited = count("200"), count("429")
    async with client:
        await client.get("https://api.example.test/ok")
        await client.get("https://api.example.test/ok")
        await client.get("https://api.example.test/limited")
    assert count("200") - before_ok == 2
    assert count("429") - before_limited == 1
    latency = REGISTRY.get_sample_value(
        "secmaster_api_call_seconds_count", {"service": "metrics-test", "host": "api.example.test"}
    )
    assert latency is not None and latency >= 3
