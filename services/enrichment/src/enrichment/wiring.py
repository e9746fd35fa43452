"""Composition helpers shared by the service process and the CLI: the app-role DSN, the
cache policy, and an OpenFIGI client on the budget every replica shares."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters.openfigi import OpenFigiClient, RetryPolicy
from enrichment.service import CachePolicy
from enrichment.settings import EnrichmentSettings
from secmaster_common.breaker import CircuitBreaker
from secmaster_common.db.limiter import PostgresWindowLimiter
from secmaster_common.http import instrumented_client
from secmaster_common.services import service_dsn

SERVICE = "enrichment"


def database_dsn(settings: EnrichmentSettings) -> str:
    """`ENRICHMENT_DATABASE_URL`, else `DATABASE_URL` with the enrichment app role."""
    return service_dsn(settings, SERVICE)


def cache_policy(settings: EnrichmentSettings) -> CachePolicy:
    return CachePolicy(
        negative_ttl=dt.timedelta(days=settings.enrichment_negative_ttl_days),
        positive_ttl=dt.timedelta(days=settings.enrichment_positive_refresh_days),
    )


def budget_name(api_key: str | None, endpoint: str = "mapping") -> str:
    """The shared limiter's budget: one per API key and endpoint family (mapping with
    values; search with filter), the key hashed so it never leaves the process."""
    if not api_key:
        return f"openfigi:{endpoint}:anonymous"
    return f"openfigi:{endpoint}:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


def build_client(
    settings: EnrichmentSettings,
    engine: AsyncEngine,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
) -> OpenFigiClient:
    """An OpenFIGI client whose mapping budget lives in Postgres (per API key, shared by
    every replica and by the CLI), guarded by a circuit breaker."""
    key = api_key
    if key is None and settings.openfigi_api_key is not None:
        key = settings.openfigi_api_key.get_secret_value()
    keyed = bool(key)
    limiter = PostgresWindowLimiter(
        engine,
        budget=budget_name(key),
        max_calls=settings.openfigi_max_requests or 25,
        window_s=settings.openfigi_window_s or (6.0 if keyed else 60.0),
        margin_s=settings.openfigi_limit_margin_s,
    )
    # /v3/search and /v3/filter: 20 per 60 s with a key, 5 without (specs/openfigi.md).
    search_limiter = PostgresWindowLimiter(
        engine,
        budget=budget_name(key, "search"),
        max_calls=20 if keyed else 5,
        window_s=60.0,
        margin_s=settings.openfigi_limit_margin_s,
    )
    breaker = CircuitBreaker(
        "openfigi",
        failure_threshold=settings.enrichment_breaker_failures,
        reset_timeout_s=settings.enrichment_breaker_reset_s,
    )
    return OpenFigiClient(
        base_url or settings.openfigi_base_url,
        key,
        limiter=limiter,
        search_limiter=search_limiter,
        breaker=breaker,
        batch_size=settings.openfigi_batch_size,
        retry=retry,
        http=instrumented_client(SERVICE, timeout=30.0),
        owns_http=True,
    )
