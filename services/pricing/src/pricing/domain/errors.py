"""Typed provider failures, so a failover chain can tell a 429 from bad data from an outage."""

from __future__ import annotations


class ProviderFailure(Exception):
    """Base of every failure a provider call can end in."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class RateLimited(ProviderFailure):
    """The provider said 'too many requests' (HTTP 429, or a 200 body saying so)."""

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderError(ProviderFailure):
    """The provider failed or refused (5xx, auth, outage page, unknown symbol...)."""

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(provider, message)
        self.status = status


class EmptyData(ProviderFailure):
    """The call succeeded but carried no bars for the range."""


class InvalidData(ProviderFailure):
    """The body could not be read as the provider's format, or its bars failed validation."""
