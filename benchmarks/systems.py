"""The servers under test: what each is, how it is started, and what it answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from invoicebus_contracts import Resource, Topology

from .baselines.batched import BATCH_SIZE, BATCH_WAIT_SECONDS


class Serves(enum.Enum):
    COMMANDS = "customer.create"
    LISTS = "customer.list"

    def queue(self, topology: Topology) -> str:
        """The queue whose consumer shows the server is up."""
        if self is Serves.COMMANDS:
            return topology.command_shard_queue(0)  # every shard has the same consumers
        return topology.query_queue(Resource.CUSTOMER)


@dataclass(frozen=True)
class System:
    key: str  # short, for file names and the plot
    label: str  # for the tables
    module: str  # started as ``python -m module``
    serves: Serves
    #: Whether it answers a command's ``reply_to`` (the harness then waits for the reply too).
    replies: bool
    #: Whether its commands need an existing entity (created through it before a round).
    needs_entity: bool = False
    #: Whether commands carry a ``message_id`` (the idempotency key).
    keyed: bool = True


PER_MESSAGE = System(
    "per-message",
    "hand-written aio-pika + pymongo, per message (insert_one, confirmed event, ack)",
    "benchmarks.baselines.per_message",
    Serves.COMMANDS,
    replies=False,
)
BATCHED = System(
    "batched",
    f"hand-written, micro-batched (≤{BATCH_SIZE} messages or {BATCH_WAIT_SECONDS * 1000:g} ms"
    " → insert_many, events confirmed together, acks)",
    "benchmarks.baselines.batched",
    Serves.COMMANDS,
    replies=False,
)
COMMAND_SERVICE = System(
    "service",
    "invoicebus command service",
    "invoicebus.commands",
    Serves.COMMANDS,
    replies=True,
    needs_entity=True,
)
#: The command service fed commands without a message_id: what idempotency keys cost.
COMMAND_SERVICE_UNKEYED = System(
    "service-no-key",
    "invoicebus command service, commands without message_id",
    "invoicebus.commands",
    Serves.COMMANDS,
    replies=True,
    needs_entity=True,
    keyed=False,
)
QUERY_SERVICE = System(
    "query-service", "invoicebus query service", "invoicebus.queries", Serves.LISTS, replies=True
)
RPC = System(
    "rpc",
    "hand-written RPC server (same find and count)",
    "benchmarks.baselines.rpc",
    Serves.LISTS,
    replies=True,
)

#: In the order they run in each round: the baselines, then the service.
COMMAND_SYSTEMS = (PER_MESSAGE, BATCHED, COMMAND_SERVICE)
BASELINES = (PER_MESSAGE, BATCHED)
LIST_SYSTEMS = (QUERY_SERVICE, RPC)
