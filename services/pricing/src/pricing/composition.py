"""The composition of the pricing service's collaborators from its settings: the provider
chains per asset class, the fundamentals sources, the default history range (shared by
app and CLI)."""

from __future__ import annotations

import datetime as dt

import httpx

from pricing.adapters.fundamentals import build_fundamentals_source
from pricing.adapters.providers import build_provider
from pricing.domain.asset_classes import ProviderChains
from pricing.domain.bars import Interval
from pricing.domain.chain import PriceSource, ProviderChain
from pricing.service import FundamentalsPlan, validator
from pricing.settings import PricingSettings


def build_chains(settings: PricingSettings, http: httpx.AsyncClient) -> ProviderChains:
    """One chain per configured asset class (PRICING_CHAINS), the PRICING_PROVIDERS chain
    for the others; each provider is built once, so its limiter and breaker are shared by
    every chain that names it."""
    plan = settings.chain_plan()
    providers = {name: _provider(settings, http, name) for name in plan.all_providers}
    return ProviderChains(
        plan,
        providers,
        validate=validator,
        min_quality=settings.pricing_min_quality,
        reorder_by_health=True,
        default_class=settings.default_asset_class,
    )


def build_chain(settings: PricingSettings, http: httpx.AsyncClient) -> ProviderChain:
    """The default chain alone (PRICING_PROVIDERS)."""
    return ProviderChain(
        [_provider(settings, http, name) for name in names(settings.pricing_providers)],
        validate=validator,
        min_quality=settings.pricing_min_quality,
        reorder_by_health=True,
    )


def _provider(settings: PricingSettings, http: httpx.AsyncClient, name: str) -> PriceSource:
    key = settings.pricing_api_keys.get(name)
    return build_provider(
        name,
        client=http,
        base_url=settings.pricing_base_urls.get(name),
        api_key=key.get_secret_value() if key else None,
    )


def names(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def build_fundamentals(settings: PricingSettings, http: httpx.AsyncClient) -> FundamentalsPlan:
    """Fundamentals sources in the configured priority order (none when unset)."""
    sources = []
    for name in names(settings.pricing_fundamentals_providers):
        key = settings.pricing_api_keys.get(name)
        sources.append(
            build_fundamentals_source(
                name,
                client=http,
                base_url=settings.pricing_base_urls.get(name),
                api_key=key.get_secret_value() if key else None,
            )
        )
    return FundamentalsPlan(
        sources=tuple(sources), ttl=dt.timedelta(hours=settings.pricing_fundamentals_ttl_hours)
    )


def history_range(
    settings: PricingSettings, interval: Interval = Interval.D1
) -> tuple[dt.date, dt.date]:
    """The default refresh range: PRICING_HISTORY_* for daily bars; for intraday bars the
    last PRICING_INTRADAY_HISTORY_DAYS (providers keep weeks of minutes, not years)."""
    end = settings.pricing_history_end or dt.date.today()
    if interval.is_intraday:
        return end - dt.timedelta(days=settings.pricing_intraday_history_days), end
    start = settings.pricing_history_start or end - dt.timedelta(days=settings.pricing_history_days)
    return start, end
