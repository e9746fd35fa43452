"""The composition of the pricing service's collaborators from its settings: the provider
chain, the fundamentals sources, the default history range (shared by app and CLI)."""

from __future__ import annotations

import datetime as dt

import httpx

from pricing.adapters.fundamentals import build_fundamentals_source
from pricing.adapters.providers import build_provider
from pricing.domain.chain import ProviderChain
from pricing.service import FundamentalsPlan, validator
from pricing.settings import PricingSettings


def build_chain(settings: PricingSettings, http: httpx.AsyncClient) -> ProviderChain:
    providers = []
    for name in names(settings.pricing_providers):
        key = settings.pricing_api_keys.get(name)
        providers.append(
            build_provider(
                name,
                client=http,
                base_url=settings.pricing_base_urls.get(name),
                api_key=key.get_secret_value() if key else None,
            )
        )
    return ProviderChain(
        providers,
        validate=validator,
        min_quality=settings.pricing_min_quality,
        reorder_by_health=True,
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


def history_range(settings: PricingSettings) -> tuple[dt.date, dt.date]:
    end = settings.pricing_history_end or dt.date.today()
    start = settings.pricing_history_start or end - dt.timedelta(days=settings.pricing_history_days)
    return start, end
