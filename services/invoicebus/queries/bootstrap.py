"""The query service's composition root: its parts, built from the dependencies it is given
(the reader, the messenger, the entity lookups and API keys: adapters in the app, fakes in a
test)."""

from __future__ import annotations

from ..access import Access, ApiKeys, Policy
from ..messaging import Messenger
from ..tenancy import EntityLookups, Tenancy
from .consumer import QueryConsumer
from .ports import Reader
from .service import QueryService


def bootstrap(
    *,
    reader: Reader,
    messenger: Messenger,
    entities: EntityLookups,
    keys: ApiKeys,
    policy: Policy,
) -> QueryConsumer:
    access = Access(policy, Tenancy(entities, cache_seconds=policy.cache_seconds), keys)
    return QueryConsumer(QueryService(reader, access), messenger)
