"""Settings of the enrichment service (environment variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from secmaster_common.settings import CommonSettings


class EnrichmentSettings(CommonSettings):
    enrichment_database_url: SecretStr | None = Field(
        None, description="DSN of the enrichment app role (default: DATABASE_URL as enrichment_app)"
    )
    enrichment_http_port: int = Field(8102, description="HTTP port of the enrichment service")
    openfigi_base_url: str = Field("https://api.openfigi.com", description="OpenFIGI API base URL")
    openfigi_api_key: SecretStr | None = Field(None, description="OpenFIGI API key (optional)")
    openfigi_max_requests: int | None = Field(
        None, description="Mapping requests per window (default: 25 with a key, 25 without)"
    )
    openfigi_window_s: float | None = Field(
        None, description="Mapping limit window in seconds (default: 6 with a key, 60 without)"
    )
    openfigi_limit_margin_s: float = Field(0.1, description="Safety margin added to each window")
    openfigi_batch_size: int | None = Field(
        None, description="Jobs per mapping request (default: 100 with a key, 10 without)"
    )
    enrichment_negative_ttl_days: int = Field(60, description="Days a not-found answer is trusted")
    enrichment_positive_refresh_days: int = Field(
        30, description="Days after which a mapped identifier is asked again"
    )
    enrichment_breaker_failures: int = Field(5, description="Failures that open the breaker")
    enrichment_breaker_reset_s: float = Field(30.0, description="Seconds before a half-open probe")
    enrichment_queue_lease_s: float = Field(
        300.0, description="Seconds a worker holds queued identifiers before others may retry them"
    )
