"""Settings of the pricing service (environment variables)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, SecretStr, model_validator

from pricing.domain.asset_classes import AssetClass, ChainPlan, parse_asset_class
from secmaster_common.settings import CommonSettings


class PricingSettings(CommonSettings):
    pricing_database_url: SecretStr | None = Field(
        None, description="DSN of the pricing app role (default: DATABASE_URL as pricing_app)"
    )
    pricing_http_port: int = Field(8103, description="HTTP port of the pricing service")
    pricing_providers: str = Field(
        "yahoo,stooq",
        description="Default provider chain, in failover order (comma-separated): used by "
        "every asset class PRICING_CHAINS does not name",
    )
    pricing_chains: dict[str, str] = Field(
        default_factory=dict,
        description="Provider chain per asset class as JSON, e.g. "
        '{"equity": "yahoo,stooq", "crypto": "yahoo", "fx": "twelvedata,yahoo"}; classes: '
        + ", ".join(c.value for c in AssetClass),
    )
    pricing_default_asset_class: str = Field(
        "equity",
        description="Asset class of an instrument whose OpenFIGI market sector is missing "
        "or unknown",
    )
    pricing_intraday_history_days: int = Field(
        5, description="Days of intraday history a refresh covers when no --start is given"
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

    @model_validator(mode="after")
    def _chains_name_known_classes(self) -> PricingSettings:
        # Fail at start-up, naming the bad class, rather than on the first refresh.
        self.chain_plan()
        parse_asset_class(self.pricing_default_asset_class)
        return self

    def chain_plan(self) -> ChainPlan:
        return ChainPlan.parse(default=self.pricing_providers, by_class=self.pricing_chains)

    @property
    def default_asset_class(self) -> AssetClass:
        return parse_asset_class(self.pricing_default_asset_class)
