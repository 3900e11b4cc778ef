"""The query service's composition root: its parts, built from the dependencies it is given
(the reader, the messenger, the entity lookups and API keys: adapters in the app, fakes in a
test) and the settings that shape them (authorization, the time budget, the slots, the cursor
key)."""

from __future__ import annotations

import logging
import secrets

from ..access import Access, ApiKeys, Policy
from ..messaging import Messenger
from ..querying.seal import Seal
from ..settings import Settings
from ..tenancy import EntityLookups, Tenancy
from .consumer import QueryConsumer
from .ports import Reader
from .service import QueryService
from .slots import Slots

log = logging.getLogger(__name__)


def bootstrap(
    *,
    reader: Reader,
    messenger: Messenger,
    entities: EntityLookups,
    keys: ApiKeys,
    settings: Settings,
) -> QueryConsumer:
    policy = Policy.of(settings)
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
    return QueryConsumer(service, messenger)


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
