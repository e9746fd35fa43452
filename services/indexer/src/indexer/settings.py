"""Settings of the indexer service (environment variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from secmaster_common.settings import CommonSettings


class IndexerSettings(CommonSettings):
    indexer_database_url: SecretStr | None = Field(
        None, description="DSN of the indexer app role (default: DATABASE_URL as indexer_app)"
    )
    indexer_http_port: int = Field(8104, description="HTTP port of the indexer service")
    indexer_recompute_poll_s: float = Field(
        1.0, description="How often the recompute worker looks for queued indexes unprompted"
    )
    indexer_recompute_debounce_s: float = Field(
        0.2, description="Wait after a wake-up so a burst of inputs is computed once"
    )
