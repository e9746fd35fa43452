"""Settings of the ingestion service (environment variables, prefix `INGESTION_` for its own)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from secmaster_common.settings import CommonSettings


class IngestionSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ingestion_database_url: SecretStr | None = Field(
        None, description="DSN of the ingestion app role (default: DATABASE_URL as ingestion_app)"
    )
    ingestion_http_port: int = Field(8101, description="HTTP port of the ingestion service")
    ingestion_chunk_size: int = Field(
        500,
        description="Holdings per reference.holdings.v1 message (a snapshot is split into chunks)",
    )
    ingestion_drop_dir: Path | None = Field(
        None, description="Folder watched for new files to ingest (unset: no watching)"
    )
    ingestion_drop_poll_s: float = Field(2.0, description="Drop-folder poll interval")
    ingestion_parse_workers: int | None = Field(
        None,
        ge=0,
        description="Processes that parse a large FIRDS file in pieces (unset: one per CPU; "
        "0: read every file in this process)",
    )
