"""Pricing domain: bars, corporate actions, validation, aggregation, adjustment, failover."""

from pricing.domain.bars import (
    ActionType,
    CorporateAction,
    FetchResult,
    FundamentalsSnapshot,
    Interval,
    PriceBar,
    PriceBasis,
    SkippedRow,
)
from pricing.domain.chain import (
    Attempt,
    ChainResult,
    Outcome,
    PriceSource,
    ProviderChain,
    ProviderHealth,
)
from pricing.domain.errors import (
    EmptyData,
    InvalidData,
    ProviderError,
    ProviderFailure,
    RateLimited,
)

__all__ = [
    "ActionType",
    "Attempt",
    "ChainResult",
    "CorporateAction",
    "EmptyData",
    "FetchResult",
    "FundamentalsSnapshot",
    "Interval",
    "InvalidData",
    "Outcome",
    "PriceBar",
    "PriceBasis",
    "PriceSource",
    "ProviderChain",
    "ProviderError",
    "ProviderFailure",
    "ProviderHealth",
    "RateLimited",
    "SkippedRow",
]
