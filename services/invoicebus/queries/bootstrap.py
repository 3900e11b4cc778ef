"""The query service's composition root: its parts, built from the dependencies it is given
(the reader, the history of events, the messenger, the entity lookups and API keys: adapters
in the app, fakes in a test) and the settings that shape them (authorization, the time budget,
the slots, the cursor key)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Set
from dataclasses import dataclass

from ..access import Access, ApiKeys, Policy
from ..querying.seal import Seal
from ..settings import Settings
from ..tenancy import EntityLookups, Tenancy
from .consumer import QueryConsumer
from .ports import EventHistory, QueryMessenger, Reader
from .replay import REPLAYS_AT_ONCE, EventReplay
from .service import QueryService
from .slots import Slots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryParts:
    """One consumer for the list requests, one for the event replays."""

    lists: QueryConsumer
    replays: QueryConsumer

    def stop(self) -> None:
        """Shutdown begins: requests waiting out an outage go back to the broker."""
        self.lists.stop()
        self.replays.stop()


def bootstrap(
    *,
    reader: Reader,
    history: EventHistory,
    messenger: QueryMessenger,
    entities: EntityLookups,
    keys: ApiKeys,
    settings: Settings,
    protected_queues: Set[str],
) -> QueryParts:
    policy = Policy.of(settings)
    # One Access for both, so a grant cached by one is seen by the other.
    access = Access(policy, Tenancy(entities, cache_seconds=policy.cache_seconds), keys)
    service = QueryService(
        reader,
        access,
        seal=cursor_seal(settings),
        slots=Slots(
            settings.list_concurrency,
            settings.list_concurrency_per_entity,
            wait_seconds=settings.list_wait_limit_ms / 1000,
        ),
        time_limit_ms=settings.query_time_limit_ms,
    )
    replay = EventReplay(
        history,
        messenger,
        access,
        protected_queues=protected_queues,
        slots=Slots(REPLAYS_AT_ONCE, 1, wait_seconds=settings.list_wait_limit_ms / 1000),
    )
    return QueryParts(QueryConsumer(service, messenger), QueryConsumer(replay, messenger))


def cursor_seal(settings: Settings) -> Seal:
    """The key of ``INVOICEBUS_CURSOR_SECRET``; without one, a random key and a warning."""
    secret = settings.cursor_secret.get_secret_value() if settings.cursor_secret else ""
    if secret:
        return Seal(secret.encode())
    log.warning(
        "INVOICEBUS_CURSOR_SECRET is not set: list cursors are signed with a random key of this"
        " process, so they stop working when it restarts and are refused by other replicas;"
        " give every query service the same secret"
    )
    return Seal(secrets.token_bytes(32))
