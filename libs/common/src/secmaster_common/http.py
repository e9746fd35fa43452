"""Outbound HTTP clients with the metrics every guarded external API needs: calls by API
host and status, and latency (the limiter and breaker live with each API's adapter)."""

from __future__ import annotations

import time

import httpx
from prometheus_client import Counter, Histogram

API_CALLS = Counter(
    "secmaster_api_calls_total",
    "Calls to external APIs by host and HTTP status (status 'error' when no response came)",
    ["service", "host", "status"],
)
API_LATENCY = Histogram(
    "secmaster_api_call_seconds", "Latency of external API calls", ["service", "host"]
)


def instrumented_client(
    service: str, *, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose every response is counted by host and status
    (`transport` is for tests: an `httpx.MockTransport`)."""

    async def on_request(request: httpx.Request) -> None:
        request.extensions["secmaster_started"] = time.perf_counter()

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        host = request.url.host
        API_CALLS.labels(service, host, str(response.status_code)).inc()
        started = request.extensions.get("secmaster_started")
        if started is not None:
            API_LATENCY.labels(service, host).observe(time.perf_counter() - started)

    return httpx.AsyncClient(
        timeout=timeout,
        transport=transport,
        event_hooks={"request": [on_request], "response": [on_response]},
    )
