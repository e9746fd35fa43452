"""Settings every service shares, read from environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Events of framed rows (a bulk load's, many events each) one relay round takes, whole rows
# (db/relay.py). A round waits for the broker's acknowledgements before the next one starts
# (per-key order), and framed rows were taken one at a time when rounds were counted in
# rows: a million events published at 9.4 us each in rounds of 1,000, 6.2 in rounds of
# 5,000, 4.7 of 20,000 and 4.4 of 50,000 (embedded broker, 2 CPUs). A round of 50,000
# events holds about 60 MB: the events read and their record batches.
OUTBOX_ROUND_EVENTS = 50_000
# Partitions of a topic the platform creates (kafka.ensure_topics, KAFKA_TOPIC_PARTITIONS).
DEFAULT_TOPIC_PARTITIONS = 4


class CommonSettings(BaseSettings):
    """Environment variables common to every service. Secrets are `SecretStr` so they
    never appear in a log line or a repr."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated"
    )
    kafka_enable_idempotence: bool = Field(
        False,
        description="Idempotent producer; on for Apache Kafka, off for the embedded broker "
        "(Tansu has no InitProducerId). Exactly-once effects come from the outbox/inbox.",
    )
    kafka_topic_partitions: int = Field(
        DEFAULT_TOPIC_PARTITIONS,
        ge=1,
        lt=1 << 16,
        description="Partitions of every topic the platform creates (secmaster up, the compose "
        "and Kubernetes topic jobs); bulk loads build their Kafka record batches for this "
        "count, and the relay sends them one by one to a topic that has another",
    )
    kafka_session_timeout_ms: int = Field(10_000, description="Consumer group session timeout")
    kafka_heartbeat_interval_ms: int = Field(3_000, description="Consumer heartbeat interval")
    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/secmaster"),
        description="Admin/base Postgres DSN; services derive their own role's DSN from it",
    )
    topic_prefix: str = Field("", description="Prefix of every topic name (test isolation)")
    log_level: str = Field("INFO", description="Log level")
    log_json: bool = Field(True, description="JSON logs (false: human-readable console logs)")
    http_host: str = Field("127.0.0.1", description="Host the service's HTTP API binds to")
    consumer_max_attempts: int = Field(
        5, description="Attempts for a transiently failing message before it goes to the DLQ"
    )
    consumer_retry_initial_s: float = Field(0.2, description="First retry delay (jittered)")
    consumer_retry_max_s: float = Field(5.0, description="Longest retry delay")
    outbox_poll_interval_s: float = Field(0.2, description="Outbox relay poll interval")
    outbox_batch_size: int = Field(
        1000,
        description="Outbox rows published per relay round (a bulk load's rows, many events "
        f"each, are taken up to {OUTBOX_ROUND_EVENTS:,} events a round)",
    )


def role_dsn(base_dsn: str, *, user: str, password: str | None = None) -> str:
    """The base DSN with another role (and, when given, its password) swapped in."""
    url = make_url(base_dsn).set(username=user, password=password)
    return url.render_as_string(hide_password=False)


def redact(dsn: str) -> str:
    """A DSN safe for logs: the password replaced by ***."""
    return make_url(dsn).render_as_string(hide_password=True)
