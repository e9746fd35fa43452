"""Kafka wiring: the FastStream broker factory, the dead-letter middleware, topic admin.

Delivery rules (ARCHITECTURE.md, rule 3 and 4): subscribers use `NACK_ON_ERROR` and the
dead-letter middleware below catches every handler failure itself, so an offset is
committed only after the handler's transaction committed or the message was safely
parked in `<topic>.dlq`. Only a failure to reach the DLQ itself reaches FastStream,
which then seeks back and redelivers (never losing the message).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream._internal.middlewares import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from pydantic import ValidationError

from secmaster_common.events.envelope import Envelope, Payload, envelope_json, new_envelope
from secmaster_common.events.topics import dlq
from secmaster_common.logging import correlation_id, get_logger
from secmaster_common.settings import DEFAULT_TOPIC_PARTITIONS, CommonSettings
from secmaster_common.telemetry import tracer_provider

log = get_logger(__name__)

DLQ_TOTAL = Counter(
    "secmaster_messages_dead_lettered_total",
    "Messages sent to a dead-letter topic",
    ["topic", "reason"],
)
RETRIES_TOTAL = Counter(
    "secmaster_message_retries_total", "Handler retries after a transient error", ["topic"]
)


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never succeed (goes straight to the DLQ)."""


PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    PoisonMessage,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


def _header_text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def dead_letter_middleware(
    *,
    max_attempts: int = 5,
    retry_initial_s: float = 0.2,
    retry_max_s: float = 5.0,
    permanent: tuple[type[BaseException], ...] = PERMANENT_ERRORS,
) -> Callable[..., BaseMiddleware]:
    """A middleware factory: bounded jittered retries for transient errors; permanent
    errors (and transient ones past `max_attempts`) published to `<topic>.dlq` with the
    error and the message's origin in headers, after which the consumer moves on."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            raw = msg.raw_message
            record = raw[0] if isinstance(raw, tuple) else raw
            headers = dict(msg.headers or {})
            token = correlation_id.set(_header_text(headers.get("correlation_id")) or None)
            try:
                attempt = 0
                while True:
                    attempt += 1
                    try:
                        return await call_next(msg)
                    except asyncio.CancelledError:
                        raise
                    except permanent as exc:
                        await self._dead_letter(record, exc, attempt, "permanent")
                        return None
                    except Exception as exc:
                        if attempt >= max_attempts:
                            await self._dead_letter(record, exc, attempt, "retries_exhausted")
                            return None
                        delay = min(retry_max_s, retry_initial_s * 2 ** (attempt - 1))
                        delay *= random.uniform(0.5, 1.0)
                        RETRIES_TOTAL.labels(record.topic).inc()
                        log.warning(
                            "handler failed, retrying",
                            topic=record.topic,
                            offset=record.offset,
                            attempt=attempt,
                            delay_s=round(delay, 3),
                            error=repr(exc),
                        )
                        await asyncio.sleep(delay)
            finally:
                correlation_id.reset(token)

        async def _dead_letter(
            self, record: ConsumerRecord[Any, Any], exc: BaseException, attempts: int, reason: str
        ) -> None:
            broker: KafkaBroker = self.context.get("broker")
            headers = {k: _header_text(v) for k, v in (record.headers or ())}
            headers.update(
                {
                    "dlq_reason": reason,
                    "dlq_error_type": type(exc).__name__,
                    "dlq_error": str(exc)[:4000],
                    "dlq_attempts": str(attempts),
                    "dlq_origin_topic": record.topic,
                    "dlq_origin_partition": str(record.partition),
                    "dlq_origin_offset": str(record.offset),
                }
            )
            await broker.publish(
                record.value or b"", topic=dlq(record.topic), key=record.key, headers=headers
            )
            DLQ_TOTAL.labels(record.topic, reason).inc()
            log.error(
                "message dead-lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
                error=f"{type(exc).__name__}: {str(exc)[:500]}",
            )

    return DeadLetterMiddleware


def make_broker(
    settings: CommonSettings,
    *,
    client_id: str,
    registry: CollectorRegistry = REGISTRY,
    extra_middlewares: Sequence[Any] = (),
) -> KafkaBroker:
    """The FastStream broker every service uses: explicit ack policy, DLQ middleware,
    Prometheus middleware, and the producer settings the deployment allows."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        allow_auto_create_topics=False,
        middlewares=[
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider(client_id)),
            KafkaPrometheusMiddleware(
                registry=registry, app_name=client_id, metrics_prefix="secmaster"
            ),
            dead_letter_middleware(
                max_attempts=settings.consumer_max_attempts,
                retry_initial_s=settings.consumer_retry_initial_s,
                retry_max_s=settings.consumer_retry_max_s,
            ),
            *extra_middlewares,
        ],
        logger=None,
    )


def subscriber_options(settings: CommonSettings, *, group_id: str) -> dict[str, Any]:
    """Keyword arguments for `broker.subscriber(...)`: a group, commit after processing,
    start from the earliest offset for a new group (a new service must see history)."""
    return {
        "group_id": group_id,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
    }


def subscription(
    settings: CommonSettings, *, service: str, topic: str
) -> tuple[str, dict[str, Any]]:
    """(prefixed topic, subscriber options) for one service's subscription to one topic.

    One consumer group per (service, topic): every FastStream subscriber is its own
    consumer, and consumers with different subscriptions sharing a group make each
    other rebalance on every join. Replicas of a service still share each group.
    """
    full = settings.topic_prefix + topic
    return full, subscriber_options(settings, group_id=f"{settings.topic_prefix}{service}.{topic}")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = DEFAULT_TOPIC_PARTITIONS,
    replication: int = 1,
) -> None:
    """Create topics explicitly (never rely on auto-creation: brokers disagree on the
    partition count they pick). Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name=t, num_partitions=partitions, replication_factor=replication)
            for t in topics
            if t not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def publish_events(
    bootstrap_servers: str,
    items: Sequence[tuple[Payload, str]],
    *,
    producer: str,
    topic_prefix: str = "",
    enable_idempotence: bool = False,
    timeout_s: float = 30.0,
) -> list[Envelope[Any]]:
    """Publish payloads straight to their topics as an outside producer would (the CLI,
    the demo, tests): each wrapped in a new envelope, keyed, with the envelope headers.
    Services publish through their outbox instead."""
    client = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        request_timeout_ms=15_000,
        enable_idempotence=enable_idempotence,
    )
    await client.start()
    sent: list[Envelope[Any]] = []
    try:
        for payload, key in items:
            env = new_envelope(payload, producer=producer)
            await asyncio.wait_for(
                client.send_and_wait(
                    topic_prefix + payload.topic,
                    envelope_json(env),
                    key=key.encode(),
                    headers=[(k, v.encode()) for k, v in env.headers().items()],
                ),
                timeout=timeout_s,
            )
            sent.append(env)
    finally:
        await client.stop()
    return sent
