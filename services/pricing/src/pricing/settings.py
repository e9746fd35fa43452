"""Settings of the pricing service (environment variables)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, SecretStr

from secmaster_common.settings import CommonSettings


class PricingSettings(CommonSettings):
    pricing_database_url: SecretStr | None = Field(
        None, description="DSN of the pricing app role (default: DATABASE_URL as pricing_app)"
    )
    pricing_http_port: int = Field(8103, description="HTTP port of the pricing service")
    pricing_providers: str = Field(
        "yahoo,stooq",
        description="Provider chain for equities, in failover order (comma-separated)",
    )
    pricing_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Per-provider base URL overrides as JSON, e.g. {"yahoo": "http://127.0.0.1:9000"}',
    )
    pricing_api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description='Per-provider API keys as JSON, e.g. {"polygon": "..."}'
    )
    pricing_history_start: dt.date | None = Field(
        None, description="First date fetched for a new instrument (default: 365 days back)"
    )
    pricing_history_days: int = Field(365, description="Days of history for a new instrument")
    pricing_history_end: dt.date | None = Field(
        None, description="Last date fetched (default: today); fixed in demos for reproducibility"
    )
    pricing_min_quality: float = Field(
        0.5, description="Series quality below which the next provider is tried"
    )
    pricing_fundamentals_providers: str = Field(
        "",
        description="Fundamentals providers in priority order (comma-separated; among "
        "alphavantage, polygon, fmp); empty turns fundamentals off",
    )
    pricing_fundamentals_ttl_hours: float = Field(
        24.0,
        description="Hours a provider's fundamentals observation is used before re-fetching",
    )
    pricing_schedule_enabled: bool = Field(
        True, description="Refresh the universe after each exchange's close"
    )
    pricing_schedule_exchanges: str = Field(
        "XNYS",
        description="exchange-calendars codes whose closes trigger a refresh (comma-separated)",
    )
    pricing_schedule_delay_minutes: float = Field(
        30.0, description="Minutes after the close before refreshing (providers settle the day)"
    )
    pricing_schedule_lookback_days: int = Field(
        10, description="Days before the closed session that a scheduled refresh covers"
    )
