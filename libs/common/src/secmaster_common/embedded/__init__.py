"""Embedded infrastructure for `secmaster up` and the test harness: a Kafka-protocol
broker (Tansu) and a Postgres server, both from pip wheels, as child processes."""

from secmaster_common.embedded.broker import EmbeddedBroker
from secmaster_common.embedded.postgres import EmbeddedPostgres, postgres_answers

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "postgres_answers"]
