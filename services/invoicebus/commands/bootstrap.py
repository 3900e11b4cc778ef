"""The command service's composition root: its parts, built from the dependencies it is given.

Everything outside the process comes in as a parameter (the store, the messenger, the entity
lookups and API keys), so the app passes the MongoDB and RabbitMQ adapters and a test passes
fakes; the FastStream app and its lifecycle are ``app.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from invoicebus_contracts import Resource

from ..access import Access, ApiKeys, Policy
from ..messaging import Messenger
from ..settings import Settings
from ..tenancy import EntityLookups, Tenancy
from .batch import BatchingConsumer
from .consumer import CommandConsumer
from .context import Builder, Handler
from .outbox import Relay
from .pipeline import CommandPipeline
from .ports import Store
from .registry import BUILDERS, HANDLERS


@dataclass(frozen=True)
class CommandService:
    pipeline: CommandPipeline
    #: Settles each delivery one by one.
    consumer: CommandConsumer
    #: The subscribers' handler (``consume``): batches what it can, else ``consumer``.
    batching: BatchingConsumer
    #: Publishes events their command left unsent (started once consuming).
    relay: Relay

    async def stop_retries(self) -> None:
        """Shutdown begins: commands waiting out an outage go back to the broker now."""
        self.consumer.stop()


def bootstrap(
    *,
    store: Store,
    messenger: Messenger,
    entities: EntityLookups,
    keys: ApiKeys,
    settings: Settings,
    handlers: Mapping[Resource, Handler] = HANDLERS,
    builders: Mapping[Resource, Builder] = BUILDERS,
) -> CommandService:
    policy = Policy.of(settings)
    access = Access(policy, Tenancy(entities, cache_seconds=policy.cache_seconds), keys)
    pipeline = CommandPipeline(store, messenger, access, handlers)
    consumer = CommandConsumer(pipeline, settings.transient_retry_seconds)
    return CommandService(
        pipeline=pipeline,
        consumer=consumer,
        batching=BatchingConsumer(
            consumer,
            # A resource whose handler was replaced (a test's) keeps its handler.
            {r: b for r, b in builders.items() if handlers.get(r) is HANDLERS.get(r)},
            size=settings.command_batch_size,
            wait_seconds=settings.command_batch_wait_ms / 1000,
            concurrency=settings.command_batch_concurrency,
        ),
        relay=Relay(
            pipeline.outbox,
            interval_seconds=settings.relay_interval_seconds,
            grace_seconds=settings.relay_grace_seconds,
        ),
    )
