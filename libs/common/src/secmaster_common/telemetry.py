"""OpenTelemetry tracing: a tracer provider per service, exporting over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried across topics.

FastStream's telemetry middleware opens a span per consumed message and reads the
`traceparent` header; our events leave through the outbox, so the unit of work writes the
current trace context into each outbox row's headers and the next service continues the trace.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_providers: dict[str, TracerProvider] = {}


def tracer_provider(service: str) -> TracerProvider:
    """The service's tracer provider (one per process and service name), also installed as
    the global provider so library instrumentation finds it."""
    if service in _providers:
        return _providers[service]
    provider = TracerProvider(resource=Resource.create({"service.name": f"secmaster-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if not _providers:
        trace.set_tracer_provider(provider)
    _providers[service] = provider
    return provider


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (empty outside a span)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
