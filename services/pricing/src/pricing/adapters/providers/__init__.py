"""Price provider adapters, one module per provider, and a registry to build them by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from pricing.adapters.providers.alpaca import AlpacaProvider
from pricing.adapters.providers.alphavantage import AlphaVantageProvider
from pricing.adapters.providers.fmp import FmpProvider
from pricing.adapters.providers.local_files import LocalFilesProvider
from pricing.adapters.providers.polygon import PolygonProvider
from pricing.adapters.providers.sandbox import SandboxProvider
from pricing.adapters.providers.stooq import StooqProvider
from pricing.adapters.providers.twelvedata import TwelveDataProvider
from pricing.adapters.providers.yahoo import YahooProvider
from pricing.domain.chain import PriceSource
from secmaster_common.limiter import RateLimiter

HTTP_PROVIDERS: dict[str, Any] = {
    "yahoo": YahooProvider,
    "alpaca": AlpacaProvider,
    "polygon": PolygonProvider,
    "twelvedata": TwelveDataProvider,
    "alphavantage": AlphaVantageProvider,
    "fmp": FmpProvider,
    "stooq": StooqProvider,
}
PROVIDER_NAMES = (*HTTP_PROVIDERS, "local", "sandbox")


def build_provider(
    name: str,
    *,
    client: httpx.AsyncClient,
    base_url: str | None = None,
    api_key: str | None = None,
    limiter: RateLimiter | None = None,
    files_root: Path | None = None,
) -> PriceSource:
    """A provider adapter by name. `base_url` (default: the real provider) is the
    directory for `local`; `sandbox` ignores everything."""
    if name == "sandbox":
        return SandboxProvider()
    if name == "local":
        root = files_root or (Path(base_url) if base_url else None)
        if root is None:
            raise ValueError("the local provider needs a directory (--base-url DIR)")
        return LocalFilesProvider(root=root)
    if name not in HTTP_PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDER_NAMES)}")
    provider: PriceSource = HTTP_PROVIDERS[name](
        client=client, base_url=base_url, api_key=api_key, limiter=limiter
    )
    return provider


__all__ = [
    "PROVIDER_NAMES",
    "AlpacaProvider",
    "AlphaVantageProvider",
    "FmpProvider",
    "LocalFilesProvider",
    "PolygonProvider",
    "SandboxProvider",
    "StooqProvider",
    "TwelveDataProvider",
    "YahooProvider",
    "build_provider",
]
