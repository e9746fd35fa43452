"""Publishing the pricing outbox to the broker until it is empty: what `secmaster prices
refresh` does after its commits, so bars reach Kafka even when the service is not running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.relay import OutboxRelay, make_relay_producer

SERVICE = "pricing"


async def drain_outbox(
    *,
    engine: AsyncEngine,
    bootstrap_servers: str,
    topic_prefix: str = "",
    enable_idempotence: bool = False,
    timeout_s: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run the service's outbox relay until no unsent row is left; returns the rows this
    call sent. It takes the same advisory lock as the service's own relay, so with the
    service running too, one of them publishes at a time and per-key order holds.

    Raises TimeoutError when rows are still unsent after `timeout_s` (another relay holds
    the lock and is not finishing), and the producer's error when the broker is unreachable
    (the rows stay in the outbox for the next relay).
    """
    producer = make_relay_producer(
        bootstrap_servers, client_id=f"{SERVICE}-cli", enable_idempotence=enable_idempotence
    )
    await producer.start()
    try:
        relay = OutboxRelay(engine, producer, service=SERVICE, topic_prefix=topic_prefix)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        sent = 0
        while True:
            n = await relay.publish_once()
            if n:
                sent += n
                if progress is not None:
                    progress(n)
                continue
            left = await relay.backlog()
            if left == 0:
                return sent
            if loop.time() > deadline:
                raise TimeoutError(f"{left} outbox rows still unsent after {timeout_s:.0f}s")
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
