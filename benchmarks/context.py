"""What every scenario of a run shares: the sizes, the broker connection, fresh databases and
the servers under test, started with explicit settings."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import ObjectId

from invoicebus_contracts import CreateEntity, Resource, Topology

from .bus import Bus, Reply
from .databases import Database, fresh_database
from .processes import Server, server_environment
from .systems import System


def _size(default: Any, help: str) -> Any:
    """An option of the run, with its ``--help`` text (``benchmarks.run`` makes the flags)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Options:
    """The sizes of a run; the defaults are the full run."""

    commands: int = _size(2000, "commands per round")
    rounds: int = _size(3, "rounds; the median is reported")
    window: int = _size(256, "commands in flight")
    prefetch: int = _size(200, "INVOICEBUS_PREFETCH of every server")
    warmup: int = _size(50, "uncounted calls before measuring")
    idle: int = _size(100, "single commands per round, one at a time")
    #: Small on purpose: SecantusDB reads and sorts every document of the entity for each page
    #: (about 0.05 ms per document), so a large list measures the database, not the servers.
    list_documents: int = _size(200, "customers the lists run on")
    list_requests: int = _size(200, "list requests per round")
    list_window: int = _size(32, "list requests in flight")
    sweep: tuple[int, ...] = _size((1, 16, 64, 256), "in-flight windows of the plot")
    sweep_commands: int = _size(500, "commands per window of the plot")
    import_rows: int = _size(10_000, "rows of the bulk import")
    #: Also run the command service with commands that carry no message_id.
    unkeyed: bool = False


#: A run that takes seconds: every scenario end to end, figures meaningless.
QUICK = Options(
    commands=20, rounds=1, window=8, warmup=2, idle=3, list_documents=15, list_requests=10,
    list_window=4, sweep=(1, 4), sweep_commands=8, import_rows=20,
)  # fmt: skip


def server_settings(options: Options) -> dict[str, str]:
    """The settings every server under test gets besides its addresses; anything else is the
    services' default. The HTTP endpoints are off so no port is needed."""
    return {
        "INVOICEBUS_PREFETCH": str(options.prefetch),
        "INVOICEBUS_COMMAND_HTTP_PORT": "0",
        "INVOICEBUS_QUERY_HTTP_PORT": "0",
        # The workload's raw clients send no user_id; a grant check is one cached lookup
        # per message, not what these scenarios measure.
        "INVOICEBUS_AUTH": "off",
    }


def expect(reply: Reply | None, status: int, what: str) -> bytes:
    """The reply's body, or an error: a figure from wrong answers would be worthless."""
    if reply is None or reply.status != status:
        got = "no reply" if reply is None else f"{reply.status} {reply.body[:500]!r}"
        raise RuntimeError(f"{what}: expected {status}, got {got}")
    return reply.body


@dataclass
class Context:
    options: Options
    amqp_url: str
    #: None: a fresh SecantusDB per database; else fresh database names on this server.
    mongodb_url: str | None
    bus: Bus
    work_dir: Path  # server logs
    #: Tells this run's databases and command tags from any other's.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    @property
    def topology(self) -> Topology:
        return self.bus.topology

    def environment(self, db: Database) -> dict[str, str]:
        return {
            "AMQP_URL": self.amqp_url,
            "MONGODB_URL": db.url,
            "INVOICEBUS_DATABASE": db.name,
            "INVOICEBUS_PREFIX": self.topology.prefix,
            **server_settings(self.options),
        }

    def database(self, label: str) -> AbstractAsyncContextManager[Database]:
        name = f"ibbench_{self.run_id}_{label}".replace("-", "_")
        return fresh_database(self.mongodb_url, name, self.work_dir)

    @asynccontextmanager
    async def serving(self, system: System, db: Database) -> AsyncIterator[Server]:
        """The system running on ``db``, consuming its queue, until the block ends."""
        queue = system.serves.queue(self.topology)
        log = self.work_dir / f"{system.key}-{db.name}.log"
        server = Server(system.module, server_environment(self.environment(db)), log)

        async def consuming() -> bool:
            return await self.bus.consumers(queue) > 0

        try:
            await server.start(consuming)
            yield server
        finally:
            await server.stop()

    async def entity(self, system: System) -> str:
        """The entity commands act on: created through the system when it checks entities,
        else an id of the right shape."""
        if not system.needs_entity:
            return f"{Resource.ENTITY.id_prefix}_{ObjectId()}"
        body = CreateEntity(name="Benchmark Entity").model_dump_json(exclude_unset=True).encode()
        _, reply = await self.bus.call(
            self.topology.commands_exchange,
            Resource.ENTITY.create_key,
            body,
            entity_id=None,
        )
        entity_id: str = json.loads(expect(reply, 201, "entity.create"))["id"]
        return entity_id
