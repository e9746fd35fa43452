"""Topic names (versioned) and their dead-letter twins."""

from __future__ import annotations

INSTRUMENTS_SUBMITTED = "instruments.submitted.v1"
REFERENCE_INSTRUMENTS = "reference.instruments.v1"
REFERENCE_HOLDINGS = "reference.holdings.v1"
ENRICHMENT_REQUESTS = "enrichment.requests.v1"
REFERENCE_SECURITIES = "reference.securities.v1"
PRICING_REFRESH_REQUESTED = "pricing.refresh.requested.v1"
MARKET_BARS = "market.bars.v1"
MARKET_FUNDAMENTALS = "market.fundamentals.v1"
INDEXES_DEFINITIONS = "indexes.definitions.v1"
INDEXES_LEVELS = "indexes.levels.v1"
INDEXES_REBALANCES = "indexes.rebalances.v1"

ALL_TOPICS: tuple[str, ...] = (
    INSTRUMENTS_SUBMITTED,
    REFERENCE_INSTRUMENTS,
    REFERENCE_HOLDINGS,
    ENRICHMENT_REQUESTS,
    REFERENCE_SECURITIES,
    PRICING_REFRESH_REQUESTED,
    MARKET_BARS,
    MARKET_FUNDAMENTALS,
    INDEXES_DEFINITIONS,
    INDEXES_LEVELS,
    INDEXES_REBALANCES,
)


def dlq(topic: str) -> str:
    """The dead-letter twin of a topic."""
    return f"{topic}.dlq"


def all_topics_with_dlq(prefix: str = "") -> list[str]:
    return [prefix + t for t in ALL_TOPICS] + [dlq(prefix + t) for t in ALL_TOPICS]
