"""The query service's composition root: its parts, built from the dependencies it is given
(the reader, the messenger, the entity lookups: adapters in the app, fakes in a test)."""

from __future__ import annotations

from ..messaging import Messenger
from ..tenancy import EntityLookups, Tenancy
from .consumer import QueryConsumer
from .ports import Reader
from .service import QueryService


def bootstrap(*, reader: Reader, messenger: Messenger, entities: EntityLookups) -> QueryConsumer:
    return QueryConsumer(QueryService(reader, Tenancy(entities)), messenger)
