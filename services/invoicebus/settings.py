"""Every environment variable the services and the CLI read, in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from invoicebus_contracts import (
    DEFAULT_COMMAND_SHARDS,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    Topology,
)
from invoicebus_contracts.topology import MAX_COMMAND_SHARDS


class AuthMode(StrEnum):
    #: Every command and list request must carry a user_id; grants decide what it may touch.
    REQUIRED = "required"
    #: Nothing is checked (local development): any sender acts on every entity.
    OFF = "off"


#: A comma-separated list of principals in the environment (``a,b``), a list in Python.
Principals = Annotated[frozenset[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICEBUS_", extra="ignore", frozen=True)

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=AliasChoices("AMQP_URL", "INVOICEBUS_AMQP_URL"),
    )
    #: None means "no external MongoDB": ``invoicebus run`` then starts an embedded SecantusDB.
    mongodb_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MONGODB_URL", "INVOICEBUS_MONGODB_URL")
    )
    database: str = "invoicebus"
    #: Prefix of every exchange and queue name; lets tenants and test runs share a broker.
    prefix: str = DEFAULT_PREFIX

    #: Authorization (see README "Access control"): who may act on which entity.
    auth: AuthMode = AuthMode.REQUIRED
    #: Principals (RabbitMQ user names) that may act on every entity.
    admins: Principals = frozenset()
    #: Principals trusted to act for the holder of an API key (the HTTP gateway's user).
    gateways: Principals = frozenset()
    #: How long a service may keep a grant or an API key it looked up: a revoke takes effect
    #: in every replica within this many seconds.
    grant_cache_seconds: float = Field(default=5.0, ge=0, le=60)

    #: Messages a consumer holds unacknowledged at once (per queue).
    prefetch: int = Field(default=16, ge=1, le=1000)
    #: Command shard queues (``Topology.command_shards``): a tenant's backlog delays another
    #: tenant's commands only when both hash to the same shard (probability 1/N). Changing it
    #: is safe: shards past a smaller N are unbound and drained (docs/operations.md).
    command_shards: int = Field(default=DEFAULT_COMMAND_SHARDS, ge=1, le=MAX_COMMAND_SHARDS)
    #: The batched write path (``commands/batching.py``): at most this many commands per
    #: batch, written at most this long after the first arrived (0: with the ones that arrived
    #: at the same moment; batches still grow with the load), at most this many batches at
    #: once.
    command_batch_size: int = Field(default=100, ge=1, le=1000)
    command_batch_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    command_batch_concurrency: int = Field(default=2, ge=1, le=64)
    #: Quorum-queue redeliveries before the broker dead-letters a message (x-delivery-limit).
    delivery_limit: int = Field(default=DEFAULT_DELIVERY_LIMIT, ge=1)
    #: How long a command waits out a database or broker outage before it is handed back to
    #: the broker (nack + requeue, counted against ``delivery_limit``).
    transient_retry_seconds: float = Field(default=120.0, gt=0)
    #: Outbox relay: how often it looks for unsent events, and how old one must be to count
    #: as unsent (younger ones are still being published by the command that wrote them).
    relay_interval_seconds: float = Field(default=5.0, gt=0)
    relay_grace_seconds: float = Field(default=10.0, ge=0)
    #: Seconds a stopping service waits for in-flight messages before it exits.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)

    #: List requests: the time budget of the database reads of each (the server stops them at
    #: what is left of it), how many run at once in one query service, in all and for one
    #: entity, and how long one may wait for its turn (entity by entity) to run.
    query_time_limit_ms: int = Field(default=2000, ge=1)
    list_concurrency: int = Field(default=8, ge=1)
    list_concurrency_per_entity: int = Field(default=1, ge=1)
    list_wait_limit_ms: int = Field(default=10_000, ge=0)
    #: The key that signs list cursors; every query service replica needs the same one. Unset:
    #: a random key per process (cursors then die with the process), with a warning.
    cursor_secret: SecretStr | None = None

    #: Readiness: a consumer whose queue has had messages ready for this long, while it
    #: settled none of its messages, is stalled and /readyz says so.
    stall_seconds: float = Field(default=60.0, gt=0)

    #: HTTP port for /healthz, /readyz and /metrics (0 disables the HTTP server).
    command_http_port: int = Field(default=8081, ge=0, le=65535)
    query_http_port: int = Field(default=8082, ge=0, le=65535)
    http_host: str = "127.0.0.1"

    #: The HTTP gateway (``python -m invoicebus.gateway``): its port (the API, /docs,
    #: /healthz, /readyz and /metrics; 0: ``invoicebus run`` starts no gateway), how long it
    #: waits for a service's reply before it answers 504, and the broker URL it connects with
    #: (default: ``AMQP_URL``). Give it a broker user of its own, listed in the services'
    #: ``INVOICEBUS_GATEWAYS``.
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    gateway_reply_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    gateway_amqp_url: str | None = None

    #: Log lines as JSON objects (one per line, for a log pipeline) or as text (for people).
    log_format: Literal["json", "text"] = "text"
    #: The lowest level logged (DEBUG adds a line per message, with its outcome).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    #: Where ``invoicebus run`` keeps the embedded SecantusDB's files and its port.
    data_dir: str = "data"
    embedded_mongo_port: int = Field(default=27117, ge=1, le=65535)

    @field_validator("admins", "gateways", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _uppercase(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def topology(self) -> Topology:
        # Derived on every access (it is tiny), so a model_copy with another prefix can't keep
        # the old names.
        return Topology(self.prefix, self.command_shards)
