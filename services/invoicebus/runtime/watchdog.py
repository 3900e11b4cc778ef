"""The consumer watchdog, for FastStream issue #2758 (subscribers left without a consumer
after a recovery): a subscriber whose consumer tag is missing from its live channel on two
checks in a row is restarted (queue re-declared, ``basic.consume`` again). aio-pika >= 10.2.1
already restores consumers after reconnects and server-side cancels; this covers the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.rabbit.subscriber import RabbitSubscriber

from .. import metrics
from .readiness import PROBE_TIMEOUT_SECONDS

# The package's logger, as before runtime.py was split: operators (and tests) look for it.
log = logging.getLogger(__package__)

#: How often the watchdog looks at the consumers, and how many failed looks restart one
#: (aio-pika gets the first chance: it restores consumers itself after a reconnect).
WATCHDOG_INTERVAL_SECONDS = 5.0
WATCHDOG_STRIKES = 2


async def consumer_alive(subscriber: RabbitSubscriber) -> bool:
    """Whether the subscriber's consumer tag is registered on its live AMQP channel.

    Reads FastStream's private ``_queue_obj``/``_consumer_tag`` (pinned: faststream 0.7.x).
    """
    queue = subscriber._queue_obj
    tag = subscriber._consumer_tag
    if not subscriber.running or queue is None or tag is None or queue.channel.is_closed:
        return False
    try:
        channel = await asyncio.wait_for(queue.channel.get_underlay_channel(), 1.0)
    except Exception:
        return False
    consumers: dict[str, Any] = getattr(channel, "consumers", {})  # aiormq.Channel's table
    return tag in consumers


def subscribers(broker: RabbitBroker) -> Iterator[RabbitSubscriber]:
    for subscriber in broker.subscribers:
        if isinstance(subscriber, RabbitSubscriber):
            yield subscriber


def queue_names(broker: RabbitBroker) -> list[str]:
    """The queues the broker's subscribers consume."""
    return [s.queue.name for s in subscribers(broker)]


async def dead_consumers(broker: RabbitBroker) -> list[str]:
    """Names of the queues whose subscriber has no consumer on the broker right now."""
    return [s.queue.name for s in subscribers(broker) if not await consumer_alive(s)]


async def restart_subscriber(subscriber: RabbitSubscriber) -> None:
    try:
        await subscriber.stop()  # cancels what is left; waits for its in-flight messages
    except Exception as exc:
        log.warning("stopping subscriber %s failed (%r)", subscriber.queue.name, exc)
        subscriber._consumer_tag = None
        subscriber._queue_obj = None
    await subscriber.start()  # re-declares the queue and its binding, then basic.consume


async def watch_consumers(
    broker: RabbitBroker,
    *,
    interval: float = WATCHDOG_INTERVAL_SECONDS,
    strikes: int = WATCHDOG_STRIKES,
) -> None:
    """Restart every subscriber found without a consumer ``strikes`` times in a row."""
    misses: dict[str, int] = {}
    while True:
        await asyncio.sleep(interval)
        if not await broker.ping(timeout=PROBE_TIMEOUT_SECONDS):
            continue  # the connection itself is down: aio-pika's reconnect handles that
        for subscriber in subscribers(broker):
            name = subscriber.queue.name
            if await consumer_alive(subscriber):
                misses.pop(name, None)
                continue
            misses[name] = misses.get(name, 0) + 1
            if misses[name] < strikes:
                continue
            log.warning("watchdog: queue %s has no consumer; restarting its subscriber", name)
            try:
                await restart_subscriber(subscriber)
            except Exception:
                log.exception("watchdog: restarting the subscriber of %s failed", name)
            else:
                metrics.CONSUMER_RESTARTS.labels(name).inc()
                misses.pop(name, None)
